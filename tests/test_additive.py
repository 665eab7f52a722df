"The additive similarity computed in tiles trains like its plain path: the same perplexity, to what thread counts move."
from contextlib import nullcontext
from unittest import mock
import torch
from evo_attention import similarities
from evo_attention.additive import additive_scores_reference
from evo_attention.config import preset_config
from evo_attention.data import synthetic_task
from evo_attention.train import train_and_evaluate

GENE = 'additive|relu_norm|highway|adaptive'

def _train(threads: int, plain: bool = False, steps: int = 150) -> float:
    "Validation perplexity of GENE trained on the smoke preset with `threads` torch threads (plain: the whole additive tensor)."
    cfg = preset_config('smoke', device='cpu')
    data = synthetic_task('induction', cfg.max_seq_len, vocab_size=64, n_train=512, n_valid=128)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with mock.patch.object(similarities, "additive_scores", additive_scores_reference) if plain else nullcontext():
            return train_and_evaluate(GENE, cfg, data, seed=0, steps=steps)['perplexity']
    finally: torch.set_num_threads(before)

def test_tiled_trains_like_plain():
    tiled, plain, tiled_1 = _train(2), _train(2, plain=True), _train(1)
    threads = abs(tiled - tiled_1) / tiled               # what one thread instead of two moves
    print(f"perplexity: tiled {tiled:.6f}, plain {plain:.6f} (2 threads); tiled with 1 thread {tiled_1:.6f}")
    assert abs(tiled - plain) / plain <= max(threads, 1e-3), (tiled, plain, tiled_1)
