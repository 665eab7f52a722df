"""The findings chapter's trainings: the original's claims re-tested on WikiText-2, offline.

Ten genes (the vanilla baseline, the original's winner, the winner with one component reverted, the
components added alone to vanilla, and the 2024-26 options that won alone) are trained at the `cpu`
preset (d_model 128, 2 layers, context 64, 300 steps, vocabulary 10,000) on WikiText-2's validation
text, evaluated on its test text, 3 fresh paired seeds each; then the best gene and the baseline climb
one rung (steps x4). It is a `ladder.Ladder` with named genes, so it resumes exactly as a ladder does:
kill it at any point and run the same command again. Only `ladder.json` (records, no weights) is
written, and kept in the repository so that `nbs/14_findings.ipynb` renders without re-running.

    nice -n 10 python findings/run.py                      # 2 CPU cores: hours (see the chapter)
    python findings/run.py --device cuda --replicates 5 --rungs 'steps=4,genes=4; steps=4,width=2,layers=2,genes=2; \
        steps=8,width=4,layers=4,genes=2' --out findings/wikitext2-gpu       # one GPU: the bigger ladder
"""
import argparse, os, time
from evo_attention.config import preset_config
from evo_attention.data import load_text
from evo_attention.ladder import Ladder

WINNER = 'dot|sparsemax|output_gate|learned'       # the original's evolved attention
GENES = [WINNER,
         'dot|softmax|output_gate|learned',         # the winner without sparsemax
         'dot|sparsemax|none|learned',              # the winner without its output gate
         'multiplicative|sparsemax|output_gate|learned',   # the winner with another similarity
         'dot|softmax|output_gate|fixed',           # vanilla + output gate
         'dot|sparsemax|none|fixed',                # vanilla + sparsemax
         'dot|softmax|none|fixed|bias=true|dropout=0.1|position=rope',   # vanilla + RoPE
         'dot|softmax|none|fixed|bias=true|dropout=0.1|position=fox',    # vanilla + FoX
         'dot|softmax|attn_gate|fixed']             # vanilla + gated attention (head outputs)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared',
                                                   'data', 'wikitext-2'),
                   help='a folder with valid.txt (trained on) and test.txt (evaluated on)')
    p.add_argument('--out', default=os.path.join(os.path.dirname(__file__), 'wikitext2'))
    p.add_argument('--rungs', default='steps=4,genes=1')
    p.add_argument('--device', default='cpu')
    p.add_argument('--replicates', type=int, default=3, help='fresh paired seeds per gene and stage')
    p.add_argument('--threads', type=int, default=1, help='torch threads per training')
    p.add_argument('--workers', type=int, default=None,
                   help='trainings at once (processes; default: 2 on a CPU, 1 on a GPU)')
    a = p.parse_args()
    valid, test = (os.path.join(a.data, f) for f in ('valid.txt', 'test.txt'))
    if not (os.path.isfile(valid) and os.path.isfile(test)):
        raise SystemExit(f"{a.data} needs valid.txt and test.txt (WikiText-2's raw text)")
    workers = a.workers or (2 if a.device == 'cpu' else 1)
    cfg = preset_config('cpu', device=a.device, threads=a.threads, workers=workers,
                        final_replicates=a.replicates)
    text = load_text(train=valid, valid=test, vocab_size=cfg.vocab_size)
    text.name = 'wikitext-2 (valid.txt -> test.txt)'
    t0 = time.time()
    lad = Ladder(a.out, cfg, text, genes=GENES, rungs=a.rungs, progress=False,
                 on_record=lambda r: print(f"{time.time() - t0:6.0f}s {r['stage']:8} {r['gene']} "
                                           f"r{r['replicate']} ppl={r['perplexity']:.2f}", flush=True))
    lad.run()
    print(f"done in {time.time() - t0:.0f} s: {a.out}/ladder.json")

if __name__ == '__main__': main()
