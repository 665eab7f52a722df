"""Training-step time of every gene option, this checkout beside another (e.g. the previous release), in one run.

Two worker processes, one importing `evo_attention` from this checkout and one from --before (a source
tree: `git archive main | tar -x -C /tmp/before`), time the same genes on the same batch and seed, taking
turns gene by gene (before, after, after, before: a drifting load slows both alike). Each option of each
component is set on the default gene in turn. Prints the median ms per step of each side and after/before.

    python benchmarks/options_before_after.py --before /tmp/before
"""
import argparse, json, math, os, subprocess, sys, time
from pathlib import Path

WORKER = r"""
import json, sys, time, dataclasses, torch
import torch.nn.functional as F
from evo_attention import Config, build_model
from evo_attention.train import adamw
from evo_attention.fused_loss import final_hidden, linear_cross_entropy
a = json.loads(sys.argv[1])
torch.set_num_threads(a['threads'])
cfg = Config(**a['config'])
x = torch.randint(cfg.vocab_size, (cfg.batch_size, cfg.max_seq_len + 1), generator=torch.Generator().manual_seed(0))
for line in sys.stdin:
    gene, steps = json.loads(line)
    torch.manual_seed(0)
    model = build_model(gene, cfg)
    opt = adamw(model.parameters(), cfg, torch.device('cpu'))
    times = []
    for i in range(steps + 1):                      # the first step warms up
        t0 = time.perf_counter()
        loss = linear_cross_entropy(final_hidden(model, x[:, :-1]).flatten(0, 1), model.head.weight, x[:, 1:].flatten())
        extra = model.extra_loss()
        (loss + extra if extra is not None else loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step(); opt.zero_grad(set_to_none=True)
        if i: times.append(time.perf_counter() - t0)
    print(json.dumps(times), flush=True)
"""

def option_genes() -> list[str]:
    "The default gene with each option of each component in turn."
    from evo_attention.gene import _COMPONENTS, AttentionGene
    return [AttentionGene(**{c: name}).id for c, reg in _COMPONENTS.items() for name in reg]

def worker(src: str, arg: str) -> subprocess.Popen:
    env = {**os.environ, 'PYTHONPATH': src}
    return subprocess.Popen([sys.executable, '-c', WORKER, arg], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                            cwd=src)   # `python -c` puts the working directory first on sys.path: `src` itself

def ask(w, gene, steps) -> list[float]:
    w.stdin.write(json.dumps([gene, steps]) + '\n'); w.stdin.flush()
    return json.loads(w.stdout.readline())

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--before', required=True, help='source tree of the code to compare with')
    p.add_argument('--batch-size', type=int, default=16); p.add_argument('--seq-len', type=int, default=64)
    p.add_argument('--vocab-size', type=int, default=10000); p.add_argument('--steps', type=int, default=2)
    p.add_argument('--threads', type=int, default=2); p.add_argument('--genes', nargs='*')
    a = p.parse_args()
    arg = json.dumps(dict(threads=a.threads, config=dict(vocab_size=a.vocab_size, max_seq_len=a.seq_len,
                                                            batch_size=a.batch_size, device='cpu')))
    after, before = worker(str(Path(__file__).resolve().parents[1]), arg), worker(a.before, arg)
    print(f"threads={a.threads} batch={a.batch_size} seq={a.seq_len} vocab={a.vocab_size} steps={a.steps} x2 per side (ABBA)")
    print(f"{'gene':52s} {'before ms':>10s} {'after ms':>9s} {'after/before':>13s}  load")
    ratios = []
    for g in a.genes or option_genes():
        t_before = ask(before, g, a.steps); t_after = ask(after, g, a.steps)
        t_after += ask(after, g, a.steps); t_before += ask(before, g, a.steps)
        mb, ma = (sorted(t)[len(t) // 2] * 1000 for t in (t_before, t_after))
        ratios.append(ma / mb)
        print(f"{g:52s} {mb:10.1f} {ma:9.1f} {ma / mb:12.2f}x  {os.getloadavg()[0]:.1f}", flush=True)
    print(f"geometric mean after/before over {len(ratios)} genes: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}x")
    for w in (after, before): w.stdin.close(); w.wait()

if __name__ == '__main__': main()
