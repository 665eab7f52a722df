"""Search strategies compared on the shipped table (NAS-Bench style): does the GA beat random search?

Replays `--runs` searches of each strategy (seeds 0 .. runs-1) on `benchmarks/tables/smoke_induction`
with `evo_attention.tabular` (the real `Evolution`, its genes looked up instead of trained) for
`--budget` trainings each, and prints the mean best-found perplexity (the mean over the table's seeds
of the gene the search ranked best so far) with 95% t intervals at several budgets, and each
strategy against random search (difference of means, bootstrap 95% interval, Mann-Whitney U).
Writes the curves (JSON) and a plot (PNG).

    python benchmarks/strategy_benchmark.py --runs 50 --budget 40
"""
import argparse, json, statistics, time, warnings
from pathlib import Path
from evo_attention.tabular import TABLE, TableEvaluation, benchmark, summarise, true_value, versus

def plot(curves, optimum, path):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from evo_attention.stats import t_interval
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for s, runs in curves.items():
        xs = range(1, len(runs[0]) + 1)
        iv = [t_interval([r[b] for r in runs]) for b in range(len(runs[0]))]
        ax.plot(xs, [m for _, m, _, _ in iv], label=f"{s} ({len(runs)} runs)")
        ax.fill_between(xs, [lo if lo is not None else m for _, m, lo, _ in iv],
                        [hi if hi is not None else m for _, m, _, hi in iv], alpha=0.2)
    ax.axhline(optimum, color='k', ls='--', lw=1, label='best gene of the table')
    ax.set(xlabel='trainings (budget)', ylabel='best-found perplexity (mean over seeds)',
           title='Search strategies on the tabular benchmark (95% t intervals)')
    ax.legend(); fig.tight_layout(); fig.savefig(path, dpi=110)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--table', default=str(TABLE))
    p.add_argument('--runs', type=int, default=50)
    p.add_argument('--budget', type=int, default=40)
    p.add_argument('--strategies', nargs='+', default=['ga', 'aging', 'random'])
    p.add_argument('--out', default='benchmarks/strategy_benchmark')
    a = p.parse_args()
    warnings.filterwarnings('ignore', message='No GPU')          # lookups, not trainings
    table = TableEvaluation(a.table)
    t0 = time.time()
    curves = {}
    for s in a.strategies:                     # one at a time, so a long run shows its progress
        curves.update(benchmark(table, [s], runs=a.runs, budget=a.budget))
        print(f"{s}: {a.runs} searches replayed ({time.time() - t0:.0f} s)", flush=True)
    genes = {g for g, _ in table.rows}
    values = sorted(true_value(table, g) for g in genes)
    print(f"table {Path(a.table).name}: {len(genes)} genes, {len(table.rows)} trainings; best {values[0]:.3f}, "
          f"median {statistics.median(values):.3f}; {a.runs} runs x {a.budget} trainings per strategy "
          f"({time.time() - t0:.0f} s)\n")
    budgets = sorted({b for b in (6, 10, 20, 30, 40, 60, 80, 100, a.budget) if b <= a.budget})
    rows = summarise(curves, budgets)
    print("| budget | " + " | ".join(a.strategies) + " |\n|---|" + "---|" * len(a.strategies))
    for b in budgets:
        cells = [f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" for r in rows if r['budget'] == b]
        print(f"| {b} | " + " | ".join(cells) + " |")
    print("\n| budget | strategy − random | difference of means [95% bootstrap] | Mann-Whitney p | P(strategy better) |\n"
          "|---|---|---|---|---|")
    comps = [versus(curves, s, 'random', b) for b in budgets for s in a.strategies if s != 'random']
    for v in comps:
        print(f"| {v['budget']} | {v['a']} | {v['diff']:+.3f} [{v['ci_low']:+.3f}, {v['ci_high']:+.3f}] | "
              f"{v['p_mannwhitney']:.3g} | {v['a_better_share']:.2f} |")
    Path(a.out + '.json').write_text(json.dumps(dict(curves=curves, summary=rows, versus_random=comps,
                                                     optimum=values[0]), indent=0) + '\n')
    plot(curves, values[0], a.out + '.png')
    print(f"\nwrote {a.out}.json and {a.out}.png")

if __name__ == '__main__': main()
