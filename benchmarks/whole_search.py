"""Whole searches one by one against together, side by side: wall time (median of --runs) and the results.

Runs `evo-attention evolve` as a user would, alternating the two ways (ABAB...) so that a machine's
load falls on both alike, each run in a fresh folder; prints every run, the medians and their ratio,
and how far the two ways' perplexities are apart (the same trainings, batched or not).

    python benchmarks/whole_search.py --preset smoke --runs 3
    python benchmarks/whole_search.py --preset cpu --runs 3 --train-file valid.txt --valid-file test.txt \
        -- --generations 2 --population 4
"""
import argparse, json, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

CLI = [sys.executable, '-c', 'import sys; from evo_attention.cli import main; sys.exit(main())']

def _cpu() -> float:
    "CPU seconds (user + system) of the finished child processes so far."
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

def search(preset: str, way: str, out: Path, extra: list) -> tuple[float, float]:
    "One search: its wall seconds and its CPU seconds (the CPU time is less moved by other load)."
    t0, c0 = time.perf_counter(), _cpu()
    r = subprocess.run(CLI + ['evolve', '--preset', preset, f'--{way}', '--out', str(out), '--no-progress', '--device', 'cpu', *extra],
                       capture_output=True, text=True)
    if r.returncode: sys.exit(f"{way} run failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0, _cpu() - c0

def perplexities(out: Path) -> dict:
    rows = [json.loads(l) for l in (out / 'history.jsonl').read_text().splitlines()]
    return {(r['gene'], r.get('replicate', 0), r.get('role')): r['perplexity'] for r in rows}

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--preset', default='smoke'); ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--train-file'); ap.add_argument('--valid-file')
    ap.add_argument('extra', nargs='*', help='more evolve flags (after --)')
    a = ap.parse_args()
    extra = [*(['--train-file', a.train_file] if a.train_file else []), *(['--valid-file', a.valid_file] if a.valid_file else []), *a.extra]
    times, cpu, ppl = {'one-by-one': [], 'together': []}, {'one-by-one': [], 'together': []}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.runs):
            for way in ('one-by-one', 'together') if i % 2 == 0 else ('together', 'one-by-one'):
                out = Path(tmp) / f'{way}-{i}'
                wall, secs = search(a.preset, way, out, extra)
                times[way].append(wall); cpu[way].append(secs)
                ppl.setdefault(way, perplexities(out))
                print(f"run {i + 1} {way:10} {wall:8.1f} s wall {secs:8.1f} s CPU", flush=True)
    med = {w: statistics.median(t) for w, t in times.items()}
    mcpu = {w: statistics.median(t) for w, t in cpu.items()}
    common = set(ppl['one-by-one']) & set(ppl['together'])
    rel = [abs(ppl['together'][k] / ppl['one-by-one'][k] - 1) for k in common if ppl['one-by-one'][k] not in (0, float('inf'))]
    print(f"\npreset {a.preset} {' '.join(extra)}: median one by one {med['one-by-one']:.1f} s, together {med['together']:.1f} s, "
          f"together/one-by-one {med['together'] / med['one-by-one']:.2f}; CPU seconds: one by one "
          f"{mcpu['one-by-one']:.1f}, together {mcpu['together']:.1f}, ratio {mcpu['together'] / mcpu['one-by-one']:.2f}")
    print(f"trainings in both histories: {len(common)}; perplexity apart: median {statistics.median(rel):.1e}, max {max(rel):.1e}")

if __name__ == '__main__': main()
