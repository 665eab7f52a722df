"""Parameter counts and training-step times of the K/V-head and feed-forward options, side by side.

MHA/GQA/MQA × GELU/SwiGLU/MoE (dot-product softmax attention, everything else at the defaults) at the
default model size (Config(): d_model 128, 4 heads, 2 layers, vocabulary 10,000, batch 32, 128 tokens).
A step is what `train_and_evaluate` runs on the fast path (on a CPU the output layer's loss in chunks;
the mixture of experts' load-balance loss added), forward + backward + clipping + AdamW. The models take
their steps in turn (one step each, round after round), so a busy machine slows all of them alike;
after `--warmup` rounds, the median of `--steps` rounds is printed per model, with its ratio to MHA·GELU,
and the load average before and after.

    python benchmarks/architecture.py                       # CPU, 10 timed rounds after 3 warm-up rounds
    python benchmarks/architecture.py --steps 20 --threads 2
    python benchmarks/architecture.py --device cuda          # on a GPU (AMP per Config.amp='auto')
"""
import argparse, itertools, os, time
from contextlib import nullcontext
import torch
import torch.nn.functional as F
from evo_attention import Config, build_model, count_params
from evo_attention.train import adamw, amp_dtype
from evo_attention.fused_loss import final_hidden, linear_cross_entropy

KV = ('mha', 'gqa', 'mqa')
FFN = ('gelu', 'swiglu', 'moe')

def gene_id(kv: str, ffn: str) -> str:
    extras = ''.join(f'|{k}={v}' for k, v, d in (('kv_heads', kv, 'mha'), ('ffn', ffn, 'gelu')) if v != d)
    return f'dot|softmax|none|fixed|bias=true|dropout=0.1{extras}'

def make_step(gene: str, cfg: Config):
    "One training step of `gene`'s model on the fast path, as `train_and_evaluate` takes it, as a function of a batch (B, T+1)."
    dev = torch.device(cfg.device)
    torch.manual_seed(0)
    model = build_model(gene, cfg, fast=True).to(dev).train()
    opt = adamw(model.parameters(), cfg, dev)
    dtype = amp_dtype(cfg, dev)
    scaler = torch.amp.GradScaler(dev.type, enabled=dtype == torch.float16)
    chunked = dev.type == 'cpu'
    def step(x):
        with torch.autocast(dev.type, dtype=dtype) if dtype else nullcontext():
            if chunked: loss = linear_cross_entropy(final_hidden(model, x[:, :-1]).flatten(0, 1), model.head.weight, x[:, 1:].flatten())
            else: loss = F.cross_entropy(model(x[:, :-1]).flatten(0, 1).float(), x[:, 1:].flatten())
        if (extra := model.extra_loss()) is not None: loss = loss + extra
        scaler.scale(loss).backward(); scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(opt); scaler.update(); opt.zero_grad(set_to_none=True)
        return loss
    return model, step

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cpu')
    p.add_argument('--steps', type=int, default=10, help='timed rounds (median reported)')
    p.add_argument('--warmup', type=int, default=3, help='untimed rounds first')
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch\'s)')
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    cfg = Config(device=a.device)
    dev = torch.device(cfg.device)
    genes = [gene_id(kv, ffn) for ffn, kv in itertools.product(FFN, KV)]
    runs = {g: make_step(g, cfg) for g in genes}
    x = torch.randint(cfg.vocab_size, (cfg.batch_size, cfg.max_seq_len + 1), generator=torch.Generator().manual_seed(0)).to(dev)
    load0 = os.getloadavg()
    times = {g: [] for g in genes}
    for i in range(a.warmup + a.steps):
        for g, (_, step) in runs.items():
            if dev.type == 'cuda': torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            step(x).item()
            if dev.type == 'cuda': torch.cuda.synchronize(dev)
            if i >= a.warmup: times[g].append(time.perf_counter() - t0)
    load1 = os.getloadavg()
    med = {g: sorted(t)[len(t) // 2] * 1000 for g, t in times.items()}
    ref = med[gene_id('mha', 'gelu')]
    print(f"torch {torch.__version__}, device {dev}, {torch.get_num_threads()} threads, d_model {cfg.d_model}, {cfg.n_heads} heads, "
          f"{cfg.n_layers} layers, vocab {cfg.vocab_size}, batch {cfg.batch_size} × {cfg.max_seq_len} tokens, "
          f"MoE {cfg.moe_experts} experts top-{cfg.moe_top_k}; median of {a.steps} steps after {a.warmup} warm-up rounds, models in turn")
    print(f"load average (1 min) before {load0[0]:.1f}, after {load1[0]:.1f}\n")
    print('| K/V heads | FFN | parameters | non-embedding | ms / step | vs MHA·GELU |')
    print('|---|---|---:|---:|---:|---:|')
    for ffn, kv in itertools.product(FFN, KV):
        g = gene_id(kv, ffn)
        n = count_params(runs[g][0])
        print(f"| {kv} | {ffn} | {n['total']:,} | {n['non_embedding']:,} | {med[g]:.0f} | {med[g] / ref:.2f} |")

if __name__ == '__main__':
    main()
