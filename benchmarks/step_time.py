"""Training-step speed per gene: reference path vs fast path, same shapes.

Prints, per gene and path: ms per training step (forward + backward + clipping + AdamW, as
`train_and_evaluate` runs it: the fast path on a CPU makes the output layer's loss in chunks),
training tokens/s, peak GPU memory (CUDA only), and the fast/reference speed ratio; then the
geometric mean of the ratios. The paths of one gene alternate step by step, so a busy machine
slows both alike; the load average is printed.

    python benchmarks/step_time.py                                   # all similarities x all normalizations, CPU
    python benchmarks/step_time.py --genes 'dot|softmax|none|fixed' 'dot|sparsemax|output_gate|learned'
    python benchmarks/step_time.py --device cuda --steps 50          # on a GPU (AMP per Config.amp='auto')
"""
import argparse, dataclasses, itertools, math, os, time
from contextlib import nullcontext
import torch
import torch.nn.functional as F
from evo_attention import Config, build_model, count_params
from evo_attention.options import SIMILARITIES, NORMALIZATIONS
from evo_attention.train import adamw, amp_dtype
from evo_attention.fused_loss import final_hidden, linear_cross_entropy

def make_step(gene, cfg, fast):
    "One training step of `gene`'s model on the given path, as a function of a batch (B, T+1)."
    dev = torch.device(cfg.device)
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

def step_times(gene, cfg, paths, steps, warmup):
    "Median ms per step of each path, the paths alternating step by step; and peak GPU memory per path (CUDA)."
    dev = torch.device(cfg.device)
    x = torch.randint(cfg.vocab_size, (cfg.batch_size, cfg.max_seq_len + 1), device=dev)
    runs = {p: make_step(gene, cfg, p == 'fast') for p in paths}
    times, peak = {p: [] for p in paths}, {p: float('nan') for p in paths}
    for i in range(warmup + steps):
        for p, step in runs.items():
            if dev.type == 'cuda': torch.cuda.synchronize(dev); torch.cuda.reset_peak_memory_stats(dev)
            t0 = time.perf_counter()
            step(x).item()
            if dev.type == 'cuda': torch.cuda.synchronize(dev); peak[p] = torch.cuda.max_memory_allocated(dev) / 2**20
            if i >= warmup: times[p].append(time.perf_counter() - t0)
    return {p: (sorted(t)[len(t) // 2] * 1000, peak[p]) for p, t in times.items()}

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--genes', nargs='*', help='gene ids (default: every similarity x normalization, no gate, fixed temperature)')
    p.add_argument('--device', default='cpu'); p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--seq-len', type=int, default=128); p.add_argument('--vocab-size', type=int, default=10000)
    p.add_argument('--steps', type=int, default=5); p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--paths', default='reference,fast'); p.add_argument('--compile', action='store_true')
    a = p.parse_args()
    genes = a.genes or [f'{s}|{n}|none|fixed' for s, n in itertools.product(SIMILARITIES.names(), NORMALIZATIONS.searchable())]
    cfg = Config(vocab_size=a.vocab_size, max_seq_len=a.seq_len, batch_size=a.batch_size, device=a.device, compile=a.compile)
    print(f"device={a.device} torch={torch.__version__} threads={torch.get_num_threads()} batch={a.batch_size} seq={a.seq_len} "
          f"vocab={a.vocab_size} amp={amp_dtype(cfg, torch.device(a.device))} steps={a.steps}")
    print(f"{'gene':42s} {'path':9s} {'ms/step':>9s} {'tokens/s':>10s} {'peak MiB':>9s} {'speedup':>8s}  load")
    ratios = []
    for g in genes:
        res = step_times(g, cfg, a.paths.split(','), a.steps, a.warmup)
        ref = res.get('reference', (None,))[0]
        for path, (ms, peak) in res.items():
            sp = f"{ref / ms:7.2f}x" if ref and path != 'reference' else ''
            if sp: ratios.append(ref / ms)
            print(f"{g:42s} {path:9s} {ms:9.1f} {cfg.batch_size * cfg.max_seq_len / ms * 1000:10.0f} {peak:9.0f} {sp:>8s}  {os.getloadavg()[0]:.1f}", flush=True)
    if ratios: print(f"geometric mean fast/reference speedup over {len(ratios)} genes: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x")
    m = build_model(genes[0], cfg)
    print('parameters (first gene):', count_params(m))

if __name__ == '__main__': main()
