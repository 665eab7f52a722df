"""One by one vs together: M models trained as one batched model (`train_together`) against the same
M trainings one after another (`train_and_evaluate`), side by side in one run.

Each mode runs in its own fresh process (so its peak memory is its own), the two modes alternate,
and both train the same M random genes (seeded) for the same steps on the same random-token data.
Prints, per M: training tokens/s of all models together (from each training's own timing, the
first step excluded), peak memory (GPU: torch.cuda.max_memory_allocated; CPU: the process's peak
RSS rise) and the ratio together / one by one.

    python benchmarks/together.py                                   # M = 4, 12, 24 on the CPU
    python benchmarks/together.py --models 4 --steps 4 --seq-len 64 --batch-size 16
    python benchmarks/together.py --device cuda --steps 50 --models 4 12 24
"""
import argparse, json, math, multiprocessing as mp, os, random, time
import torch

def _peak() -> int:
    "This process's peak resident memory (bytes, Linux)."
    try: return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) * 1024
    except (OSError, StopIteration): return 0

def _run(mode, genes, cfg_dict, steps, vocab, threads, q):
    torch.set_num_threads(threads)
    from evo_attention import Config, train_and_evaluate
    from evo_attention.data import LMData
    from evo_attention.population import train_together
    cfg = Config.from_dict(cfg_dict)
    g = torch.Generator().manual_seed(0)
    data = LMData(torch.randint(vocab, (200_000,), generator=g), torch.randint(vocab, (cfg.max_seq_len * cfg.eval_batch_size + 1,), generator=g), vocab, 'random')
    cuda = cfg.device.startswith('cuda')
    base = _peak()
    if cuda: torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    if mode == 'together': res = train_together(genes, cfg, data, steps=steps)
    else: res = [train_and_evaluate(gn, cfg, data, steps=steps) for gn in genes]
    wall = time.perf_counter() - t0
    # each training's own timed span (steps 2..n) and tokens; together they share one span
    spans = [(m['tokens'] - cfg.batch_size * cfg.max_seq_len) / m['tokens_per_sec'] for m in res]
    tokens = sum(m['tokens'] - cfg.batch_size * cfg.max_seq_len for m in res)
    span = max(spans) if mode == 'together' else sum(spans)
    q.put(dict(mode=mode, tokens_per_sec=tokens / span, wall=wall, together=[m.get('together', 1) for m in res],
               peak=(torch.cuda.max_memory_allocated() if cuda else _peak() - base),
               ppl=[m['perplexity'] for m in res]))

def run(mode, genes, cfg, steps, vocab, threads):
    q = mp.get_context('spawn').Queue()
    p = mp.get_context('spawn').Process(target=_run, args=(mode, genes, cfg, steps, vocab, threads, q)); p.start()
    out = q.get(); p.join()
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--models', type=int, nargs='*', default=[4, 12, 24])
    p.add_argument('--device', default='cpu'); p.add_argument('--steps', type=int, default=4)
    p.add_argument('--batch-size', type=int, default=32); p.add_argument('--seq-len', type=int, default=128)
    p.add_argument('--vocab-size', type=int, default=10000); p.add_argument('--amp', default='auto')
    p.add_argument('--threads', type=int, default=torch.get_num_threads()); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--json', help='also write the rows to this file')
    a = p.parse_args()
    from evo_attention import Config
    from evo_attention.gene import SearchSpace
    cfg = Config(vocab_size=a.vocab_size, max_seq_len=a.seq_len, batch_size=a.batch_size, eval_batch_size=32,
                 device=a.device, amp=a.amp, log_interval=1)
    space, rng = SearchSpace(), random.Random(a.seed)
    print(f"device={a.device} torch={torch.__version__} threads={a.threads} batch={a.batch_size} seq={a.seq_len} vocab={a.vocab_size} "
          f"steps={a.steps} load={os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'M':>3s} {'mode':10s} {'tokens/s':>10s} {'peak MiB':>9s} {'wall s':>8s} {'ratio':>7s}  load", flush=True)
    rows = []
    for M in a.models:
        genes = [space.sample(rng).id for _ in range(M)]
        res = {}
        for mode in ('one_by_one', 'together'):
            r = run(mode, genes, cfg.to_dict(), a.steps, a.vocab_size, a.threads)
            res[mode] = r
            ratio = r['tokens_per_sec'] / res['one_by_one']['tokens_per_sec'] if mode == 'together' else float('nan')
            print(f"{M:3d} {mode:10s} {r['tokens_per_sec']:10.0f} {r['peak'] / 2**20:9.0f} {r['wall']:8.1f} "
                  f"{'' if math.isnan(ratio) else f'{ratio:6.2f}x':>7s}  {os.getloadavg()[0]:.1f}", flush=True)
        same = max(abs(x - y) / y for x, y in zip(res['together']['ppl'], res['one_by_one']['ppl']))
        print(f"    models trained at once: {sorted(set(res['together']['together']))}; largest perplexity difference {same:.1e} (relative)")
        rows.append(dict(M=M, genes=genes, **{k: v for k, v in res.items()}))
    if a.json: json.dump(rows, open(a.json, 'w'), indent=1)

if __name__ == '__main__': main()
