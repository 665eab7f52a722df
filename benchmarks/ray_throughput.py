"""Evaluations per hour vs concurrency: local (one by one, or `workers` processes) vs Ray tasks.

Runs one generation of the same search (same preset, data and seed: the same genes) per
executor and concurrency, each in a fresh run folder, and prints the wall-clock time of the
search (Ray's start-up is measured apart: a long search pays it once) and the evaluations
per hour. Under Ray the concurrency is the number of CPUs of the local Ray instance (each
task takes one CPU and trains on one thread); locally it is `workers` (1: in this process),
each training on `--threads` threads (default 1, as Ray's tasks; 0: torch's default, all cores).

    python benchmarks/ray_throughput.py                       # smoke preset, 6 genes, concurrency 1 and 2
    python benchmarks/ray_throughput.py --concurrency 1 2 4 --population 8
    python benchmarks/ray_throughput.py --device cuda --ray-only --concurrency 1 2 4   # GPU: trainings per GPU (workers)
"""
import argparse, dataclasses, json, tempfile, time
import torch
from pathlib import Path
from evo_attention import Evolution, get_data
from evo_attention.config import PRESETS, preset_config
from evo_attention import ray_executor

def search(cfg, data, out: Path) -> tuple[int, float]:
    "Trainings done and seconds taken by one generation of the search."
    t0 = time.time()
    Evolution(cfg, data=data, run_dir=out, progress=False).run()
    return len((out / 'history.jsonl').read_text().splitlines()), time.time() - t0

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', default='smoke', choices=list(PRESETS))
    p.add_argument('--population', type=int, default=6, help='genes trained (one generation)')
    p.add_argument('--steps', type=int, default=None, help="training steps (default: the preset's)")
    p.add_argument('--concurrency', type=int, nargs='+', default=[1, 2])
    p.add_argument('--device', default='cpu')
    p.add_argument('--ray-only', action='store_true', help='skip the local executor')
    p.add_argument('--threads', type=int, default=1, help="torch threads of a local training (Ray's CPU tasks use 1); 0: torch's default")
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)     # local worker processes copy this
    over = dict(device=a.device, population_size=a.population, elite_size=1, n_generations=1, baseline=False, finalists=0, ablations=False)
    if a.steps: over['train_steps'] = a.steps
    base = preset_config(a.preset, **over)
    data = get_data(PRESETS[a.preset]['data'], vocab_size=base.vocab_size, max_seq_len=base.max_seq_len)
    print(f"preset={a.preset} data={data.name} steps={base.train_steps} genes={a.population} device={a.device} local threads={torch.get_num_threads()}")
    print(f"{'executor':8s} {'concurrency':>11s} {'trainings':>9s} {'start s':>8s} {'search s':>9s} {'evals/hour':>10s}")
    tmp, rows = Path(tempfile.mkdtemp()), []
    for executor in (['ray'] if a.ray_only else ['local', 'ray']):
        for c in a.concurrency:
            start = 0.0
            if executor == 'ray':
                t0 = time.time()
                gpu = a.device.startswith('cuda')
                ray_executor.connect(**({'num_gpus': 1} if gpu else {'num_cpus': c}))
                start = time.time() - t0
                cfg = dataclasses.replace(base, executor='ray', workers=c if gpu else 1)
            else: cfg = dataclasses.replace(base, workers=c)
            n, secs = search(cfg, data, tmp / f"{executor}-{c}")
            if executor == 'ray': ray_executor.shutdown()
            rows.append(dict(executor=executor, concurrency=c, trainings=n, start_seconds=round(start, 1),
                             search_seconds=round(secs, 1), evals_per_hour=round(3600 * n / secs)))
            print(f"{executor:8s} {c:>11d} {n:>9d} {start:>8.1f} {secs:>9.1f} {3600 * n / secs:>10.0f}", flush=True)
    print(json.dumps(rows))

if __name__ == '__main__': main()
