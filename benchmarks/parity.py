"""Together against one by one, step by step: is a difference chaos (rounding that grows) or an implementation difference?

For each gene: the training losses of the same training done one by one and together with a partner,
at float32 with 1 and 2 torch threads, and at float64; printed at the chosen steps. An implementation
difference shows at step 1 and in float64; rounding that grows shows only later, only in float32,
and moves with the thread count too.

    python benchmarks/parity.py --preset cpu --steps 50 --genes 'qk_norm|sparsemax|attn_gate|ssmax|bias=true|dropout=0'
"""
import argparse, dataclasses, json
import torch
from evo_attention.config import preset_config
from evo_attention.data import synthetic_task, get_data
from evo_attention.population import train_together
from evo_attention.train import train_and_evaluate

PARTNER = 'dot|softmax|none|fixed|bias=true|dropout=0'

def losses(m) -> dict: return {s: l for s, l in m['loss_curve']}

def run(gene, cfg, data, threads: int, dtype) -> dict:
    torch.set_num_threads(threads); torch.set_default_dtype(dtype)
    try:
        one = train_and_evaluate(gene, cfg, data)
        tog = train_together([gene, PARTNER], cfg, data)[0]
    finally: torch.set_default_dtype(torch.float32)
    return dict(one=losses(one), together=losses(tog), ppl_one=one['perplexity'], ppl_together=tog['perplexity'])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', default='cpu'); ap.add_argument('--steps', type=int, default=50)
    ap.add_argument('--genes', nargs='+', default=['qk_norm|sparsemax|attn_gate|ssmax|bias=true|dropout=0'])
    ap.add_argument('--train-file'); ap.add_argument('--valid-file')
    ap.add_argument('--at', type=int, nargs='+', default=[1, 10, 50])
    ap.add_argument('--json', help='also write the results here')
    a = ap.parse_args()
    cfg = dataclasses.replace(preset_config(a.preset), train_steps=a.steps, log_interval=1, device='cpu')
    if a.train_file: data = get_data(vocab_size=cfg.vocab_size, train_file=a.train_file, valid_file=a.valid_file)
    else: data = synthetic_task('induction', max_seq_len=cfg.max_seq_len, vocab_size=min(cfg.vocab_size, 64))
    out = {}
    for gene in a.genes:
        runs = {name: run(gene, cfg, data, th, dt) for name, th, dt in
                (('fp32, 1 thread', 1, torch.float32), ('fp32, 2 threads', 2, torch.float32), ('fp64, 1 thread', 1, torch.float64))}
        ref = runs['fp32, 1 thread']['one']
        print(f"\n{gene}  ({a.preset} preset, {a.steps} steps)")
        print(f"{'':34}" + ''.join(f"{'step ' + str(s):>12}" for s in a.at) + f"{'perplexity':>14}")
        for name, r in runs.items():
            for path in ('one', 'together'):
                label = f"{name}, {path}"
                if name == 'fp32, 1 thread' and path == 'one':
                    print(f"{label:34}" + ''.join(f"{r['one'][s]:>12.6f}" for s in a.at) + f"{r['ppl_one']:>14.4f}"); continue
                base = runs[name]['one'] if path == 'together' else ref
                rel = [(r[path][s] - base[s]) / abs(base[s]) for s in a.at]
                ppl = r['ppl_' + path] / (runs[name]['ppl_one'] if path == 'together' else runs['fp32, 1 thread']['ppl_one']) - 1
                print(f"{label + (' vs one' if path == 'together' else ' vs fp32/1')[:34]:34}" + ''.join(f"{x:>+12.1e}" for x in rel) + f"{ppl:>+14.1e}")
        out[gene] = runs
    if a.json: open(a.json, 'w').write(json.dumps(out, default=str))

if __name__ == '__main__': main()
