"""Training-step speed per gene: reference path vs fast path, same shapes.

Prints, per gene and path: ms per training step (forward + backward + AdamW), training
tokens/s, peak GPU memory (CUDA only), and the fast/reference speed ratio.

    python benchmarks/step_time.py                                   # all similarities x all normalizations, CPU
    python benchmarks/step_time.py --genes 'dot|softmax|none|fixed' 'dot|sparsemax|output_gate|learned'
    python benchmarks/step_time.py --device cuda --steps 50          # on a GPU (AMP per Config.amp='auto')
"""
import argparse, itertools, time
from contextlib import nullcontext
import torch
import torch.nn.functional as F
from evo_attention import Config, build_model, count_params
from evo_attention.options import SIMILARITIES, NORMALIZATIONS
from evo_attention.train import amp_dtype

def step_time(gene, cfg, fast, steps, warmup):
    dev = torch.device(cfg.device)
    torch.manual_seed(0)
    model = build_model(gene, cfg, fast=fast).to(dev)
    fwd = torch.compile(model) if cfg.compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, **({'fused': True} if fast and dev.type == 'cuda' else {}))
    dtype = amp_dtype(cfg, dev)
    scaler = torch.amp.GradScaler(dev.type, enabled=dtype == torch.float16)
    x = torch.randint(cfg.vocab_size, (cfg.batch_size, cfg.max_seq_len + 1), device=dev)
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)
    for i in range(warmup + steps):
        if i == warmup:
            if dev.type == 'cuda': torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=dtype) if dtype else nullcontext():
            logits = fwd(x[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
        scaler.scale(loss).backward(); scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(opt); scaler.update(); opt.zero_grad(set_to_none=True)
    loss.item()
    if dev.type == 'cuda': torch.cuda.synchronize(dev)
    dt = (time.perf_counter() - t0) / steps
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == 'cuda' else float('nan')
    return dt * 1000, cfg.batch_size * cfg.max_seq_len / dt, peak

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
    print(f"{'gene':42s} {'path':9s} {'ms/step':>9s} {'tokens/s':>10s} {'peak MiB':>9s} {'speedup':>8s}")
    for g in genes:
        ref = None
        for path in a.paths.split(','):
            ms, tps, peak = step_time(g, cfg, path == 'fast', a.steps, a.warmup)
            ref = ms if path == 'reference' else ref
            sp = f"{ref / ms:7.2f}x" if ref and path != 'reference' else ''
            print(f"{g:42s} {path:9s} {ms:9.1f} {tps:10.0f} {peak:9.0f} {sp:>8s}", flush=True)
    m = build_model(genes[0], cfg)
    print('parameters (first gene):', count_params(m))

if __name__ == '__main__': main()
