"""Does a probe predict text perplexity? The probe screen measured before it is trusted.

Samples `--genes` distinct genes from the default search space (seeded; the baseline gene first),
trains each on a probe (`probes.screen_accuracy`: the search's own model, `--probe-steps` steps)
and on WikiText-2 text (`--text-steps` steps; train = valid.txt, validation = test.txt, offline),
then reports Spearman's rho between probe accuracy and text perplexity with a 95% bootstrap interval
(scipy.stats.spearmanr, scipy.stats.bootstrap over genes, paired), and what a screen at
`--threshold` would have kept and dropped. Each gene's results are appended to `--json` as it ends,
so an interrupted run continues where it stopped. Skips (exit 0) when the text is absent.

    python benchmarks/probe_screen.py --genes 24 --threads 1                 # the `cpu` preset
    python benchmarks/probe_screen.py --genes 24 --threads 1 --text-steps 150 --probe-steps 100 \
        --d-model 64 --seq 32 --vocab 2000 --valid-tokens 40000          # the reduced setting
"""
import argparse, json, math, os, random, sys, time
import torch
from scipy import stats
from evo_attention.config import preset_config
from evo_attention.data import load_text
from evo_attention.evolution import VANILLA
from evo_attention.gene import SearchSpace
from evo_attention.probes import PROBES, screen_accuracy
from evo_attention.train import train_and_evaluate

def genes(n: int, seed: int) -> list:
    "The baseline gene and n - 1 other distinct genes of the default space."
    rng, space, out = random.Random(seed), SearchSpace(), {VANILLA.id: VANILLA}
    while len(out) < n:
        g = space.sample(rng)
        out.setdefault(g.id, g)
    return list(out.values())

def spearman(acc: list, ppl: list, seed: int = 0) -> tuple:
    "Spearman's rho of accuracy and perplexity, with a 95% paired bootstrap (BCa) interval."
    rho = stats.spearmanr(acc, ppl).statistic
    ci = stats.bootstrap((acc, ppl), lambda a, b: stats.spearmanr(a, b).statistic, paired=True,
                         vectorized=False, n_resamples=2000, random_state=seed).confidence_interval
    return rho, ci.low, ci.high

def screen(rows: list, threshold: float) -> str:
    "What a screen at `threshold` keeps and drops, against the genes' text ranks."
    ranked = sorted(rows, key=lambda r: r['perplexity'])
    rank = {r['gene']: i + 1 for i, r in enumerate(ranked)}
    dropped = [r for r in rows if r['accuracy'] < threshold]
    kept = [r for r in rows if r['accuracy'] >= threshold]
    best = ranked[0]['gene']
    fate = 'kept' if best in {r['gene'] for r in kept} else 'DROPPED'
    lines = [f"screen at accuracy >= {threshold:.2f}: keeps {len(kept)}, drops {len(dropped)} of "
             f"{len(rows)}; the text's best gene is {fate}",
             f"  text ranks dropped: {sorted(rank[r['gene']] for r in dropped)}",
             f"  of the text's best 5, dropped: {sum(rank[r['gene']] <= 5 for r in dropped)}"]
    return '\n'.join(lines)

def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default='/work/shared/data/wikitext-2',
                   help='a folder with valid.txt and test.txt')
    p.add_argument('--genes', type=int, default=24)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--probe', default='in_context_recall', choices=list(PROBES))
    p.add_argument('--probe-steps', type=int, default=200)
    p.add_argument('--text-steps', type=int, default=None, help="default: the preset's 300")
    p.add_argument('--d-model', type=int, default=None)
    p.add_argument('--seq', type=int, default=None)
    p.add_argument('--vocab', type=int, default=None, help="word vocabulary (default: 10000)")
    p.add_argument('--valid-tokens', type=int, default=None,
                   help='score only the first N tokens of test.txt')
    p.add_argument('--threshold', type=float, nargs='+', default=[0.2, 0.3])
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--device', default='cpu', help='cpu, cuda, ...')
    p.add_argument('--json', default='probe_screen.jsonl')
    a = p.parse_args()
    if not all(os.path.isfile(os.path.join(a.data, f)) for f in ('valid.txt', 'test.txt')):
        print(f"skipped: no WikiText-2 copy at {a.data} (valid.txt and test.txt)"); return
    torch.set_num_threads(a.threads)
    over = dict(train_steps=a.text_steps, d_model=a.d_model, max_seq_len=a.seq, vocab_size=a.vocab)
    over = {k: v for k, v in over.items() if v}
    cfg = preset_config('cpu', device=a.device, threads=a.threads, probe_screen=a.probe,
                        probe_screen_steps=a.probe_steps, **over)
    print(f"settings: cpu preset with {over or 'nothing changed'}; probe {a.probe}, "
          f"{a.probe_steps} steps; {a.genes} genes; {a.threads} thread(s); "
          f"validation tokens: {a.valid_tokens or 'all'}", flush=True)
    text = load_text(train=os.path.join(a.data, 'valid.txt'),
                     valid=os.path.join(a.data, 'test.txt'), vocab_size=cfg.vocab_size)
    if a.valid_tokens: text.valid = text.valid[:a.valid_tokens]
    done = {}
    if os.path.exists(a.json):
        for line in open(a.json):
            r = json.loads(line); done[r['gene']] = r
    for g in genes(a.genes, a.seed):
        if g.id in done: continue
        t = time.perf_counter()
        probe = screen_accuracy(g, cfg)
        prose = train_and_evaluate(g, cfg, text)
        r = dict(gene=g.id, accuracy=probe['answer_accuracy'], perplexity=prose['perplexity'],
                 probe_seconds=probe['seconds'], text_seconds=prose['seconds'])
        done[g.id] = r
        with open(a.json, 'a') as f: f.write(json.dumps(r) + '\n')
        took = time.perf_counter() - t
        print(f"{r['accuracy']:.3f} {r['perplexity']:8.1f}  {took:5.0f} s  {g.id}", flush=True)
    rows = [done[g.id] for g in genes(a.genes, a.seed)]
    ok = [r for r in rows if math.isfinite(r['perplexity'])]
    rho, lo, hi = spearman([r['accuracy'] for r in ok], [r['perplexity'] for r in ok])
    print(f"\n{len(ok)} genes: Spearman rho(probe accuracy, text perplexity) = {rho:+.2f} "
          f"[{lo:+.2f}, {hi:+.2f}] (95% paired bootstrap BCa, 2000 resamples; negative: the "
          f"probe's better genes are the text's better genes)")
    accs = sorted(r['accuracy'] for r in ok)
    chance = PROBES[a.probe].chance(16, **PROBES[a.probe].params)
    print(f"probe accuracy: min {accs[0]:.3f}, median {accs[len(accs) // 2]:.3f}, "
          f"max {accs[-1]:.3f}; chance {chance:.3f}")
    for th in a.threshold: print(screen(ok, th))

if __name__ == '__main__': main()
