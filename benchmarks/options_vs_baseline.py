"""Each attention option on its own against the baseline: does it beat plain dot-product softmax attention here?

For every option outside the original's search space (the 2024–2026 normalizations, similarity, temperature,
gatings and positions; or those named with --options), trains the baseline gene with just that one component
changed, and the baseline itself, on the same fresh replicates (1000, 1001, ...: seeds no search uses) with paired
seeds (replicate r of every gene shares data order and initial values). Then a paired t-test per option against
the baseline, a 95% t interval of the difference and Holm's correction over all options (`evo_attention.stats.compare`,
SciPy). Results are saved after every training (`--json`), so an interrupted run continues where it stopped.

    python benchmarks/options_vs_baseline.py --preset cpu --train-file valid.txt --valid-file test.txt --replicates 3 --json out.json
    python benchmarks/options_vs_baseline.py --preset smoke --options entmax15 softpick --replicates 3
"""
import argparse, json, math, os, time
from dataclasses import replace
import torch
from evo_attention import get_data, train_and_evaluate
from evo_attention.config import PRESETS, preset_config
from evo_attention.evolution import VANILLA
from evo_attention.gene import SearchSpace, ORIGINAL_OPTIONS, _COMPONENTS
from evo_attention.stats import compare, method_sentence

def new_options() -> list[tuple[str, str]]:
    "(component, option) for every registered option of the attention components outside the original's space."
    return [(c, n) for c, opts in ORIGINAL_OPTIONS.items() for n in _COMPONENTS[c].names() if n not in opts and n != 'topk_softmax']

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', default='smoke', choices=list(PRESETS)); p.add_argument('--data', default=None)
    p.add_argument('--train-file'); p.add_argument('--valid-file')
    p.add_argument('--options', nargs='+', default=None, help='option names (default: every option outside the original space)')
    p.add_argument('--replicates', type=int, default=3); p.add_argument('--steps', type=int, default=None)
    p.add_argument('--device', default='cpu'); p.add_argument('--threads', type=int, default=None)
    p.add_argument('--json', default=None, help='results, saved after every training (and read back to continue)')
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    cfg = preset_config(a.preset, device=a.device, **({'train_steps': a.steps} if a.steps else {}))
    todo = new_options()
    if a.options:
        known = {n: c for c, n in todo} | {n: c for c, reg in _COMPONENTS.items() for n in reg.names()}
        bad = [o for o in a.options if o not in known]
        if bad: raise SystemExit(f"unknown option(s) {', '.join(bad)}; registered: {', '.join(sorted(known))}")
        todo = [(known[o], o) for o in a.options]
    data = get_data(a.data or PRESETS[a.preset]['data'], vocab_size=cfg.vocab_size, max_seq_len=cfg.max_seq_len,
                    train_file=a.train_file, valid_file=a.valid_file)
    reps = list(range(1000, 1000 + a.replicates))
    genes = {'baseline': VANILLA} | {f"{c}={n}": replace(VANILLA, **{c: n}) for c, n in todo}
    done = json.load(open(a.json))['results'] if a.json and os.path.exists(a.json) else {}
    t0 = time.time()
    for r in reps:                                   # replicate by replicate: an interrupted run still has paired sets
        for name, g in genes.items():
            key = f"{g.id}#{r}"
            if key in done: continue
            m = train_and_evaluate(g, cfg, data, replicate=r)
            done[key] = dict(perplexity=m['perplexity'], seconds=m['seconds'], status=m['status'])
            print(f"{time.time() - t0:7.0f}s {name:28s} r{r} ppl={m['perplexity']:.2f} ({m['seconds']:.0f} s)", flush=True)
            if a.json:
                tmp = a.json + '.tmp'
                with open(tmp, 'w') as f: json.dump(dict(preset=a.preset, steps=cfg.train_steps, replicates=reps, results=done), f, indent=1)
                os.replace(tmp, a.json)
    vals = lambda g: [done.get(f"{g.id}#{r}", {}).get('perplexity') for r in reps]
    rows = compare(vals(VANILLA), {name: vals(g) for name, g in genes.items() if name != 'baseline'})
    base = vals(VANILLA)
    print(f"\n{method_sentence()}\nbaseline {VANILLA.id}: mean {sum(base) / len(base):.2f} over replicates {reps}\n")
    print('| option (alone on the baseline) | perplexity | difference [95% CI] | Holm p | verdict |\n|---|---|---|---|---|')
    for row in sorted(rows, key=lambda x: x['mean_diff'] if x['mean_diff'] is not None else math.inf):
        ci = f"[{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]" if row['ci_low'] is not None else ''
        print(f"| {row['name']} | {row['mean']:.2f} | {row['mean_diff']:+.2f} {ci} | {row['p_holm']:.3g} | {row['verdict']} |")
    if a.json:
        out = json.load(open(a.json)); out['comparisons'] = rows
        with open(a.json, 'w') as f: json.dump(out, f, indent=1)

if __name__ == '__main__':
    main()
