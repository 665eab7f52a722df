"""Train every gene of a small search space once per seed: the table the strategy benchmark looks genes up in.

NAS-Bench style: the trainings are done once here, and `benchmarks/strategy_benchmark.py` replays any number
of searches from the table in minutes. The space is the original's four components with `topk_softmax`
added as a fifth normalization (4 x 5 x 4 x 3 = 240 genes, bias on, dropout 0.1 like the vanilla gene),
trained at the `smoke` preset on the built-in induction task with `--steps` steps, replicates
0 .. `--replicates`-1 (paired seeds, as a search trains them), replicate 0 of every gene first.
Resumable: finished trainings are kept in `<out>.jsonl` and skipped when run again; the CSV is
written from it at the end (`--collect` writes it from the trainings done so far, without training).
Without `<out>.jsonl` (it is not shipped) the run resumes from the shipped CSV.

    nice -n 10 python benchmarks/strategy_table.py --steps 100 --threads 1
    python benchmarks/strategy_table.py --collect --replicates 1     # the shipped table: replicate 0
"""
import argparse, csv, itertools, json, time
from pathlib import Path
import torch
from evo_attention.config import preset_config
from evo_attention.data import get_data
from evo_attention.gene import AttentionGene
from evo_attention.train import train_and_evaluate

SPACE = dict(similarity=['dot', 'multiplicative', 'additive', 'cosine'],
             normalization=['softmax', 'sparsemax', 'relu_norm', 'sigmoid', 'topk_softmax'],
             gating=['none', 'input_gate', 'output_gate', 'highway'],
             temperature=['fixed', 'learned', 'adaptive'])
COLUMNS = ('gene', 'replicate', 'perplexity', 'val_loss', 'train_loss', 'params', 'seconds', 'status')

def genes() -> list[str]:
    "Every gene of the table's space, in a fixed order."
    return [AttentionGene(*combo, use_bias=True, dropout=0.1).id for combo in itertools.product(*SPACE.values())]

def seed_from_csv(out: str):
    "Start the resume file from a shipped CSV (its values rounded as the CSV keeps them)."
    num = dict(replicate=int, perplexity=float, val_loss=float, train_loss=float, params=int, seconds=float)
    with open(out + '.csv', newline='') as f:
        rows = [{k: num.get(k, str)(v) for k, v in r.items()} for r in csv.DictReader(f)]
    Path(out + '.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    print(f"resuming from {out}.csv: {len(rows)} trainings", flush=True)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--steps', type=int, default=100)
    p.add_argument('--replicates', type=int, default=2)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default='benchmarks/tables/smoke_induction')
    p.add_argument('--collect', action='store_true', help='only write the CSV and JSON from the trainings done')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cfg = preset_config('smoke', device='cpu', threads=a.threads, train_steps=a.steps, log_interval=min(50, a.steps))
    data = get_data('induction', vocab_size=cfg.vocab_size, max_seq_len=cfg.max_seq_len)
    part = Path(a.out + '.jsonl')
    if not part.exists() and Path(a.out + '.csv').exists(): seed_from_csv(a.out)
    done = {(r['gene'], r['replicate']) for r in map(json.loads, part.read_text().splitlines())} if part.exists() else set()
    todo = [] if a.collect else [(g, r) for r in range(a.replicates) for g in genes() if (g, r) not in done]
    print(f"{len(genes())} genes x {a.replicates} replicates, {len(done)} done, {len(todo)} to train "
          f"({a.steps} steps, {a.threads} thread(s))", flush=True)
    t0 = time.time()
    for i, (g, r) in enumerate(todo):
        m = train_and_evaluate(g, cfg, data, replicate=r)
        with part.open('a') as f: f.write(json.dumps({k: m[k] for k in COLUMNS}) + '\n')
        print(f"{i + 1}/{len(todo)} {time.time() - t0:.0f}s {g} r{r} ppl={m['perplexity']:.3f} "
              f"{m['seconds']:.1f}s", flush=True)
    rows = sorted(map(json.loads, part.read_text().splitlines()), key=lambda r: (r['gene'], r['replicate']))
    with open(a.out + '.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, COLUMNS); w.writeheader()
        for r in rows: w.writerow({**r, 'perplexity': f"{r['perplexity']:.6g}", 'val_loss': f"{r['val_loss']:.6g}",
                                   'train_loss': f"{r['train_loss']:.6g}", 'seconds': f"{r['seconds']:.2f}"})
    meta = dict(preset='smoke', data='induction', train_steps=a.steps, replicates=a.replicates, threads=a.threads,
                space=SPACE, use_bias=True, dropout=0.1, config=cfg.to_dict(), torch=torch.__version__,
                genes=len(genes()), trainings=len(rows))
    Path(a.out + '.json').write_text(json.dumps(meta, indent=1) + '\n')
    print(f"wrote {a.out}.csv ({len(rows)} trainings) and {a.out}.json", flush=True)

if __name__ == '__main__': main()
