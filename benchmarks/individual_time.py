"""Seconds per individual: one whole training + evaluation, as the search runs it.

Calls `train_and_evaluate` (the search's own code path) per gene and path, and prints training
seconds, evaluation seconds, training tokens/s, peak GPU memory and validation perplexity; then
what a search of `--trainings` individuals (93, the original's count) would take at that pace.

With `--workers K` it also runs one generation of K individuals twice through `Evolution`, one by
one and with `Config.workers=K` (K processes sharing the device), and prints both wall times and
whether the two searches recorded the same perplexities.

    python benchmarks/individual_time.py --device cuda --train-file valid.txt --valid-file test.txt
    python benchmarks/individual_time.py --device cuda --train-file valid.txt --valid-file test.txt \\
        --genes 'dot|softmax|none|fixed' --paths fast --compile --workers 4
"""
import argparse, dataclasses, json, math, tempfile, time
from pathlib import Path
import torch
from evo_attention import Config, Evolution, get_data, train_and_evaluate

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--genes', nargs='*', default=['dot|softmax|none|fixed', 'dot|sparsemax|output_gate|learned',
                                                  'additive|softmax|input_gate|learned', 'cosine|relu_norm|highway|adaptive'])
    p.add_argument('--paths', default='reference,fast', help='comma-separated: reference, fast')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--amp', default='auto', choices=['auto', 'fp32', 'fp16', 'bf16'])
    p.add_argument('--compile', action='store_true', help='torch.compile each model')
    p.add_argument('--steps', type=int, default=5000); p.add_argument('--trainings', type=int, default=93)
    p.add_argument('--data', default='wikitext2'); p.add_argument('--train-file'); p.add_argument('--valid-file')
    p.add_argument('--workers', type=int, default=0, help='also compare one generation of K individuals, one by one vs K at once')
    p.add_argument('--json', help='also write every row to this JSON file')
    a = p.parse_args()
    cfg = Config(device=a.device, amp=a.amp, compile=a.compile, train_steps=a.steps)
    data = get_data(a.data, vocab_size=cfg.vocab_size, max_seq_len=cfg.max_seq_len, train_file=a.train_file, valid_file=a.valid_file)
    dev = torch.device(a.device)
    name = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else f'cpu x{torch.get_num_threads()} threads'
    print(f"device={name} torch={torch.__version__} data={data.name} vocab={data.vocab_size} "
          f"valid_tokens={data.valid.numel()} steps={a.steps} batch={cfg.batch_size} seq={cfg.max_seq_len} amp={a.amp} compile={a.compile}")
    print(f"{'gene':38s} {'path':9s} {'train s':>8s} {'eval s':>7s} {'total s':>8s} {'ms/step':>8s} {'tokens/s':>9s} "
          f"{'peak MiB':>9s} {'perplexity':>10s} {f'{a.trainings} trainings':>15s}")
    rows = []
    for g in a.genes:
        for path in a.paths.split(','):
            c = dataclasses.replace(cfg, fast=path == 'fast')
            if dev.type == 'cuda': torch.cuda.synchronize(dev); torch.cuda.reset_peak_memory_stats(dev)
            m = train_and_evaluate(g, c, data)
            peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == 'cuda' else float('nan')
            ev = m['seconds'] - m['train_seconds']
            row = dict(gene=g, path=path, train_seconds=m['train_seconds'], eval_seconds=ev, seconds=m['seconds'],
                       ms_per_step=1000 * m['train_seconds'] / m['steps'], tokens_per_sec=m['tokens_per_sec'],
                       peak_mib=peak, perplexity=m['perplexity'], amp=m['amp'], compile=a.compile, device=name)
            rows.append(row)
            print(f"{g:38s} {path:9s} {m['train_seconds']:8.1f} {ev:7.1f} {m['seconds']:8.1f} {row['ms_per_step']:8.2f} "
                  f"{m['tokens_per_sec']:9.0f} {peak:9.0f} {m['perplexity']:10.2f} {a.trainings * m['seconds'] / 3600:13.2f} h", flush=True)
    for path in a.paths.split(','):
        s = [r['seconds'] for r in rows if r['path'] == path]
        if s: print(f"{path}: mean {sum(s) / len(s):.1f} s per individual -> {a.trainings} trainings one by one "
                    f"{a.trainings * sum(s) / len(s) / 60:.1f} min")
    if a.workers > 1:
        res = {}
        for w in (1, a.workers):
            c = dataclasses.replace(cfg, population_size=a.workers, n_generations=1, baseline=False, workers=w,
                                    elite_size=min(cfg.elite_size, a.workers - 1))
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                evo = Evolution(c, data=data, run_dir=Path(d) / 'run', progress=False); evo.run()
                wall = time.perf_counter() - t0
                res[w] = {r['gene']: r['perplexity'] for r in evo.records}
            print(f"workers={w}: {len(res[w])} individuals in {wall:.1f} s wall ({wall / len(res[w]):.1f} s per individual)", flush=True)
            rows.append(dict(workers=w, individuals=len(res[w]), wall_seconds=wall, perplexities=res[w]))
        one, many = res[1], res[a.workers]
        diff = max(abs(one[g] - many[g]) for g in one) if one.keys() == many.keys() else math.inf
        print(f"same genes: {one.keys() == many.keys()}; largest perplexity difference one-by-one vs workers={a.workers}: {diff:.3g}")
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=1))

if __name__ == '__main__': main()
