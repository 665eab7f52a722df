"""Training-step speed and memory per gene: this project's path beside a plain eager PyTorch model.

Prints, per gene and path: ms per training step (forward + backward + clipping + AdamW, as
`train_and_evaluate` runs it: the fast path on a CPU makes the output layer's loss in chunks),
training tokens/s, and with --memory the peak memory of a step (CUDA: max_memory_allocated; CPU:
how far a fresh process's peak RSS, VmHWM, rises over two steps); then, per path, the geometric
mean of its speedup over the baseline path. Paths: `plain` (benchmarks/plain_eager.py: nn.Linear
projections, the whole additive tensor, F.softmax, default AdamW), `reference` (this project,
`fast=False`), `fast` (this project's default). The paths of one gene alternate step by step on the
same batch and seed, so a busy machine slows them alike; the load average is printed.

    python benchmarks/step_time.py --genes 'dot|softmax|none|fixed' 'dot|sparsemax|output_gate|learned' 'additive|relu_norm|highway|adaptive'
    python benchmarks/step_time.py --memory --seq-len 512 --paths fast --genes 'dot|relu_norm|highway|adaptive' 'additive|relu_norm|highway|adaptive'
    python benchmarks/step_time.py --paths reference,fast          # every similarity x normalization
    python benchmarks/step_time.py --device cuda --steps 50        # on a GPU (AMP per Config.amp='auto')
    python benchmarks/step_time.py --floor --genes 'dot|softmax|none|fixed'   # and the output layer alone
"""
import argparse, dataclasses, itertools, json, math, os, subprocess, sys, time
from contextlib import nullcontext
import torch
import torch.nn.functional as F
from evo_attention import Config, build_model
from evo_attention.gene import AttentionGene
from evo_attention.options import SIMILARITIES, NORMALIZATIONS
from evo_attention.train import adamw, amp_dtype
from evo_attention.fused_loss import final_hidden, linear_cross_entropy
from plain_eager import plain_step

def make_step(gene, cfg, path):
    "One training step of `gene`'s model on `path` ('plain', 'reference' or 'fast'), as a function of a batch (B, T+1)."
    if path == 'plain': return plain_step(AttentionGene.from_id(gene), cfg)[0]
    fast, dev = path == 'fast', torch.device(cfg.device)
    torch.manual_seed(0)
    model = build_model(gene, cfg, fast=fast).to(dev)
    fwd = torch.compile(model) if cfg.compile else model
    opt = adamw(model.parameters(), dataclasses.replace(cfg, fast=fast), dev)  # as train_and_evaluate: fused on the fast path
    dtype = amp_dtype(cfg, dev)
    scaler = torch.amp.GradScaler(dev.type, enabled=dtype == torch.float16)
    chunked = fast and not cfg.compile and dev.type == 'cpu'     # as train_and_evaluate
    def step(x):
        with torch.autocast(dev.type, dtype=dtype) if dtype else nullcontext():
            if chunked: loss = linear_cross_entropy(final_hidden(model, x[:, :-1]).flatten(0, 1), model.head.weight, x[:, 1:].flatten())
            else: logits = fwd(x[:, :-1])
        if not chunked: loss = F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
        scaler.scale(loss).backward(); scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(opt); scaler.update(); opt.zero_grad(set_to_none=True)
        return loss
    return step

def batch(cfg):
    "The benchmark's batch: seeded random tokens (B, T+1)."
    g = torch.Generator().manual_seed(0)
    return torch.randint(cfg.vocab_size, (cfg.batch_size, cfg.max_seq_len + 1), generator=g).to(cfg.device)

def step_times(gene, cfg, paths, steps, warmup):
    "Median ms per step of each path, the paths alternating step by step."
    x, runs = batch(cfg), {p: make_step(gene, cfg, p) for p in paths}
    times = {p: [] for p in paths}
    for i in range(warmup + steps):
        for p, step in runs.items():
            if x.is_cuda: torch.cuda.synchronize()
            t0 = time.perf_counter()
            step(x).item()
            if i >= warmup: times[p].append(time.perf_counter() - t0)
    return {p: sorted(t)[len(t) // 2] * 1000 for p, t in times.items()}

def floor_ms(cfg, steps, warmup):
    """Median ms of the output layer's three matrix products alone (fp32): the logits, the gradient of
    the hidden states, the gradient of the weights. Every path does them; no step can be faster."""
    n, d, v = cfg.batch_size * cfg.max_seq_len, cfg.d_model, cfg.vocab_size
    g = torch.Generator().manual_seed(0)
    h, w, dl = (torch.randn(*s, generator=g) for s in ((n, d), (v, d), (n, v)))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        h @ w.T; dl @ w; dl.T @ h
        if i >= warmup: times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2] * 1000

def _rss(field):
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(field)) * 1024

def peak_one(gene, cfg, path, steps=2):
    "Peak memory of `steps` training steps in bytes: CUDA max_memory_allocated, or the rise of this process's VmHWM (CPU)."
    x, step = batch(cfg), make_step(gene, cfg, path)
    if x.is_cuda: torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
    else: base = _rss('VmRSS:')
    for _ in range(steps): step(x).item()
    return torch.cuda.max_memory_allocated() - base if x.is_cuda else _rss('VmHWM:') - base

def peak(gene, cfg, path, threads):
    "`peak_one` in a fresh process (a process's peak RSS never falls)."
    arg = json.dumps(dict(gene=gene, cfg=cfg.to_dict(), path=path, threads=threads))
    r = subprocess.run([sys.executable, __file__, '--peak-one', arg], capture_output=True, text=True)
    if r.returncode: raise RuntimeError(r.stderr[-2000:])
    return int(r.stdout.split()[-1])

def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--genes', nargs='*', help='gene ids (default: every similarity x normalization, no gate, fixed temperature)')
    p.add_argument('--device', default='cpu'); p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--seq-len', type=int, default=128); p.add_argument('--vocab-size', type=int, default=10000)
    p.add_argument('--steps', type=int, default=5); p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--paths', default='plain,fast', help="comma-separated, of plain, reference, fast; the first is the baseline")
    p.add_argument('--threads', type=int, default=2, help='torch intra-op threads')
    p.add_argument('--memory', action='store_true', help='also the peak memory of each path, each in a fresh process')
    p.add_argument('--floor', action='store_true',
                   help="also the output layer's matrix products alone, and the ratio over the first path they allow")
    p.add_argument('--compile', action='store_true'); p.add_argument('--peak-one', help=argparse.SUPPRESS)
    return p.parse_args()

def main():
    a = parse()
    torch.set_num_threads(a.threads)
    if a.peak_one:
        d = json.loads(a.peak_one)
        print(peak_one(d['gene'], Config.from_dict(d['cfg']), d['path'])); return
    genes = a.genes or [f'{s}|{n}|none|fixed' for s, n in itertools.product(SIMILARITIES.names(), NORMALIZATIONS.searchable())]
    cfg = Config(vocab_size=a.vocab_size, max_seq_len=a.seq_len, batch_size=a.batch_size, device=a.device, compile=a.compile)
    paths = a.paths.split(',')
    print(f"device={a.device} torch={torch.__version__} threads={torch.get_num_threads()} batch={a.batch_size} seq={a.seq_len} "
          f"vocab={a.vocab_size} amp={amp_dtype(cfg, torch.device(a.device))} steps={a.steps} (median) warmup={a.warmup}")
    print(f"{'gene':40s} {'path':9s} {'ms/step':>9s} {'tokens/s':>9s} {'peak MiB':>9s} {'vs ' + paths[0]:>9s}  load")
    ratios = {p: [] for p in paths[1:]}
    for g in genes:
        ms = step_times(g, cfg, paths, a.steps, a.warmup)
        for p in paths:
            mem = peak(g, cfg, p, a.threads) / 2**20 if a.memory else float('nan')
            r = ms[paths[0]] / ms[p]
            if p != paths[0]: ratios[p].append(r)
            print(f"{g:40s} {p:9s} {ms[p]:9.1f} {cfg.batch_size * cfg.max_seq_len / ms[p] * 1000:9.0f} {mem:9.0f} {r:8.2f}x  "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
        if a.floor:
            f = floor_ms(cfg, a.steps, a.warmup)
            print(f"{g:40s} {'floor':9s} {f:9.1f} {cfg.batch_size * cfg.max_seq_len / f * 1000:9.0f} {'':9s} "
                  f"{ms[paths[0]] / f:8.2f}x  (the output layer's 3 matrix products alone: the most any path "
                  f"can gain over {paths[0]})", flush=True)
    for p, rs in ratios.items():
        print(f"geometric mean speedup of {p} over {paths[0]} ({len(rs)} genes): {math.exp(sum(map(math.log, rs)) / len(rs)):.2f}x")

if __name__ == '__main__': main()
