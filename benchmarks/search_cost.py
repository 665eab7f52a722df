"""Whole-search cost with and without hurdles: total training steps and time, and the winner.

Runs the same search (same preset, data and seed) once per hurdle setting and seed, each in
its own run folder under --out (existing folders are resumed, so an interrupted benchmark
continues), then prints one row per run and, per seed, whether the hurdled search found the
same winner or one within `--noise` perplexity of the full search's.

    python benchmarks/search_cost.py --preset cpu --train-file valid.txt --valid-file test.txt --seeds 1 2 3
    python benchmarks/search_cost.py --preset smoke --seeds 1 2 3 --hurdles none pdh loss_ratio --hurdle-step 100
"""
import argparse, json, time
from pathlib import Path
from evo_attention import Evolution, get_data
from evo_attention.config import PRESETS, preset_config

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', default='smoke', choices=list(PRESETS)); p.add_argument('--data', default=None)
    p.add_argument('--train-file'); p.add_argument('--valid-file')
    p.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    p.add_argument('--hurdles', nargs='+', default=['none', 'pdh'])
    p.add_argument('--hurdle-step', type=int, default=None, help='default: a third of the training steps')
    p.add_argument('--noise', type=float, default=None, help='perplexity difference counted as noise (default: 1%% of the best)')
    p.add_argument('--device', default='cpu'); p.add_argument('--out', default='runs/bench-search-cost')
    a = p.parse_args()
    base = preset_config(a.preset, device=a.device)
    step = a.hurdle_step or max(1, base.train_steps // 3)
    data = get_data(a.data or PRESETS[a.preset]['data'], vocab_size=base.vocab_size, max_seq_len=base.max_seq_len,
                    train_file=a.train_file, valid_file=a.valid_file)
    print(f"preset={a.preset} data={data.name} steps={base.train_steps} hurdle_step={step} population={base.population_size} "
          f"generations={base.n_generations} device={a.device}")
    print(f"{'seed':>4s} {'hurdle':10s} {'trainings':>9s} {'stopped':>7s} {'train steps':>11s} {'seconds':>8s} {'best perplexity':>15s}  best gene")
    rows = {}
    for seed in a.seeds:
        for h in a.hurdles:
            cfg = preset_config(a.preset, device=a.device, seed=seed, hurdle=h, hurdle_step=step, finalists=0)   # the search's own cost
            run_dir = Path(a.out) / f"{a.preset}-{h}-seed{seed}"
            t0 = time.time()
            evo = Evolution(cfg, data=data, run_dir=run_dir, progress=False)
            evo.run()
            s = evo.summary()
            hist = [json.loads(l) for l in (run_dir / 'history.jsonl').read_text().splitlines()]
            rows[seed, h] = s
            print(f"{seed:4d} {h:10s} {s['evaluations']:9d} {sum(r['status'] == 'stopped' for r in hist):7d} {s['total_train_steps']:11d} "
                  f"{s['total_seconds']:8.0f} {s['best_perplexity']:15.2f}  {s['best_gene']}", flush=True)
    print("\nper seed, against hurdle=none:")
    for seed in a.seeds:
        ref = rows.get((seed, 'none'))
        if not ref: continue
        noise = a.noise if a.noise is not None else 0.01 * ref['best_perplexity']
        for h in a.hurdles:
            if h == 'none': continue
            s = rows[seed, h]
            same = s['best_gene'] == ref['best_gene']
            d = s['best_perplexity'] - ref['best_perplexity']
            print(f"  seed {seed} {h}: steps {s['total_train_steps'] / ref['total_train_steps']:.0%} of full, "
                  f"winner {'the same' if same else 'different'}, perplexity {d:+.2f} "
                  f"({'within' if abs(d) <= noise else 'outside'} noise {noise:.2f})")

if __name__ == '__main__': main()
