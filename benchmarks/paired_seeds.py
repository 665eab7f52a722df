"""Common random numbers: how much paired seeds shrink the noise of a comparison between two genes.

For each gene, trains it and the baseline on replicates 0..R-1, once with paired seeds (replicate r of every gene
shares data order and initial values) and once with independent seeds (each gene its own), and prints the
standard deviation over replicates of (gene perplexity - baseline perplexity) under both, their ratio, and a 95%
interval for the ratio of variances (F distribution, scipy.stats.f; assumes roughly normal differences).

    python benchmarks/paired_seeds.py --preset smoke --replicates 5
    python benchmarks/paired_seeds.py --preset cpu --train-file valid.txt --valid-file test.txt --steps 100 --replicates 5
"""
import argparse, json, math, statistics, time
import numpy as np
from scipy import stats
from evo_attention import get_data, train_and_evaluate
from evo_attention.config import PRESETS, preset_config
from evo_attention.evolution import VANILLA

GENES = ['dot|sparsemax|output_gate|learned|bias=true|dropout=0.1', 'additive|softmax|input_gate|learned|bias=true|dropout=0.1',
         'multiplicative|relu_norm|highway|adaptive|bias=false|dropout=0.15']

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', default='smoke', choices=list(PRESETS)); p.add_argument('--data', default=None)
    p.add_argument('--train-file'); p.add_argument('--valid-file')
    p.add_argument('--genes', nargs='+', default=GENES); p.add_argument('--replicates', type=int, default=5)
    p.add_argument('--steps', type=int, default=None, help="override the preset's train_steps")
    p.add_argument('--device', default='cpu'); p.add_argument('--json', default=None, help='also write the raw numbers here')
    a = p.parse_args()
    over = dict(device=a.device, **({'train_steps': a.steps} if a.steps else {}))
    base_cfg = preset_config(a.preset, **over)
    data = get_data(a.data or PRESETS[a.preset]['data'], vocab_size=base_cfg.vocab_size, max_seq_len=base_cfg.max_seq_len,
                    train_file=a.train_file, valid_file=a.valid_file)
    print(f"preset={a.preset} data={data.name} steps={base_cfg.train_steps} replicates={a.replicates} device={a.device}", flush=True)
    ppl, t0 = {}, time.time()
    for paired in (True, False):
        cfg = preset_config(a.preset, paired_seeds=paired, **over)
        for g in [VANILLA.id] + a.genes:
            ppl[paired, g] = [train_and_evaluate(g, cfg, data, replicate=r)['perplexity'] for r in range(a.replicates)]
            print(f"  {'paired' if paired else 'independent':11s} {g:60s} " + ' '.join(f'{x:.3f}' for x in ppl[paired, g]), flush=True)
    n = a.replicates
    print(f"\n{'gene':60s} {'mean diff':>9s} {'sd paired':>9s} {'sd indep':>9s} {'ratio':>6s}  95% interval of the sd ratio")
    rows = []
    for g in a.genes:
        d = {k: np.array(ppl[k, g]) - np.array(ppl[k, VANILLA.id]) for k in (True, False)}
        sp, si = d[True].std(ddof=1), d[False].std(ddof=1)
        lo, hi = (math.sqrt(stats.f.ppf(q, n - 1, n - 1)) * sp / si for q in (0.025, 0.975)) if si > 0 else (math.nan, math.nan)
        rows.append(dict(gene=g, mean_diff_paired=float(d[True].mean()), sd_paired=float(sp), sd_independent=float(si),
                         ratio=float(sp / si) if si else math.nan, ratio_low=lo, ratio_high=hi))
        print(f"{g:60s} {d[True].mean():9.3f} {sp:9.3f} {si:9.3f} {sp / si if si else math.nan:6.2f}  [{lo:.2f}, {hi:.2f}]")
    print(f"geometric mean ratio {math.exp(statistics.fmean(math.log(r['ratio']) for r in rows)):.2f}; {time.time() - t0:.0f} s")
    if a.json:
        with open(a.json, 'w') as f: json.dump(dict(preset=a.preset, data=data.name, replicates=n, rows=rows,
                                                    perplexities={f"{'paired' if k[0] else 'independent'}|{k[1]}": v for k, v in ppl.items()}), f, indent=1)

if __name__ == '__main__': main()
