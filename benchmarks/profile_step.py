"""Where a training step's time goes, per gene: torch.profiler over a few steps of this project's fast path.

Phases are marked with `record_function`: the forward pass of each part of the model (embedding, each
block's norms, attention and feed-forward layer, final norm), the output layer and loss, the backward
pass, gradient clipping and AdamW. The backward pass is one phase (autograd runs it op by op); its
largest ops are listed. Prints each phase's share of the step's wall time.

    python benchmarks/profile_step.py --genes 'dot|softmax|none|fixed' 'additive|relu_norm|highway|adaptive'
"""
import argparse, collections
import torch
from torch.profiler import profile, record_function, ProfilerActivity
from evo_attention import Config, build_model
from evo_attention.train import adamw
from evo_attention.fused_loss import final_hidden, linear_cross_entropy

def mark(model):
    "Forward hooks that open a profiler range per module kind (attention, norm, ffn, embedding)."
    kinds = {}
    for name, m in model.named_modules():
        last = name.split('.')[-1]
        kind = {'attn': 'attention', 'ln1': 'norms', 'ln2': 'norms', 'ln_f': 'norms', 'mlp': 'feed-forward',
                'tok_emb': 'embedding', 'pos_emb': 'embedding'}.get(last)
        if kind: kinds[m] = kind
    ranges = {}
    def pre(m, _):
        ranges[m] = record_function(f'forward: {kinds[m]}'); ranges[m].__enter__()
    def post(m, _, __): ranges.pop(m).__exit__(None, None, None)
    for m in kinds: m.register_forward_pre_hook(pre); m.register_forward_hook(post)

def step_fn(gene, cfg):
    torch.manual_seed(0)
    model = build_model(gene, cfg)
    opt = adamw(model.parameters(), cfg, torch.device('cpu'))
    mark(model)
    def step(x):
        with record_function('forward: blocks and output layer, loss'):
            loss = linear_cross_entropy(final_hidden(model, x[:, :-1]).flatten(0, 1), model.head.weight, x[:, 1:].flatten())
        with record_function('backward'): loss.backward()
        with record_function('clip'): torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        with record_function('optimizer'): opt.step(); opt.zero_grad(set_to_none=True)
    return step

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--genes', nargs='+', default=['dot|softmax|none|fixed', 'dot|sparsemax|output_gate|learned',
                                                 'additive|relu_norm|highway|adaptive'])
    p.add_argument('--batch-size', type=int, default=32); p.add_argument('--seq-len', type=int, default=128)
    p.add_argument('--vocab-size', type=int, default=10000); p.add_argument('--steps', type=int, default=2)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cfg = Config(vocab_size=a.vocab_size, max_seq_len=a.seq_len, batch_size=a.batch_size, device='cpu')
    x = torch.randint(cfg.vocab_size, (cfg.batch_size, cfg.max_seq_len + 1), generator=torch.Generator().manual_seed(0))
    for g in a.genes:
        step = step_fn(g, cfg); step(x)                                   # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(a.steps): step(x)
        ev = prof.key_averages()
        phases = {e.key: e.cpu_time_total for e in ev if e.key.startswith(('forward', 'backward', 'clip', 'optimizer'))}
        inner = sum(v for k, v in phases.items() if k.startswith('forward: ') and k != 'forward: blocks and output layer, loss')
        phases['forward: output layer and loss (the rest)'] = phases.pop('forward: blocks and output layer, loss') - inner
        total = sum(phases.values())
        print(f"\n{g}: {total / a.steps / 1000:.0f} ms per step (threads={a.threads}, batch={a.batch_size}, seq={a.seq_len}, vocab={a.vocab_size})")
        for k, v in sorted(phases.items(), key=lambda kv: -kv[1]): print(f"  {k:45s} {v / total:6.1%}")
        bw = collections.Counter({e.key: e.self_cpu_time_total for e in ev if e.key.startswith(('aten::', 'Additive', 'Sparsemax', 'autograd'))})
        print('  largest ops (self time, whole step):', ', '.join(f"{k} {v / total:.0%}" for k, v in bw.most_common(6)))

if __name__ == '__main__': main()
