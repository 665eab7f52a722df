"""Checks that need a CUDA GPU: mixed precision, the fused paths on the GPU, workers sharing one GPU.

Skipped where no GPU is visible (CI has none); run them on a GPU machine with `pytest tests/test_gpu.py`.
"""
import itertools, math
import pytest
import torch
import torch.nn.functional as F
from evo_attention import Config, Evolution, build_model, synthetic_task, train_and_evaluate
from evo_attention.options import SIMILARITIES, NORMALIZATIONS
from evo_attention.train import amp_dtype, native_bf16

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')

SMALL = dict(device='cuda', vocab_size=32, max_seq_len=32, d_model=32, n_heads=2, batch_size=16,
             train_steps=60, log_interval=20)

@pytest.mark.parametrize('amp', ['fp32', 'bf16'])
def test_fast_path_matches_reference_on_gpu(amp):
    "Every similarity x normalization: the fast model's loss and gradients equal the reference model's (same weights)."
    cfg = Config(device='cuda', amp=amp)
    dtype = amp_dtype(cfg, torch.device('cuda'))
    x = torch.randint(cfg.vocab_size, (4, 65), device='cuda')
    tol = 2e-4 if dtype is None else 2e-2                 # bf16 keeps ~3 significant digits
    for s, n in itertools.product(SIMILARITIES.names(), NORMALIZATIONS.searchable()):
        gene = f'{s}|{n}|output_gate|learned|bias=true|dropout=0.0'
        losses, grads = [], []
        for fast in (False, True):
            torch.manual_seed(0)
            m = build_model(gene, cfg, fast=fast).cuda().eval()
            with torch.autocast('cuda', dtype=dtype, enabled=dtype is not None):
                logits = m(x[:, :-1])
            loss = F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
            loss.backward()
            losses.append(loss.item())
            grads.append(torch.cat([p.grad.flatten().float() for p in m.parameters() if p.grad is not None]))
        assert math.isclose(*losses, rel_tol=tol), (gene, amp, losses)
        rel = ((grads[0] - grads[1]).norm() / grads[0].norm()).item()   # bf16 rounds single entries by ~1%
        assert rel < tol, (gene, amp, rel)

@pytest.mark.parametrize('amp', ['auto', 'fp16', 'fp32'])
def test_training_on_gpu_learns(amp):
    "A short training on the induction task, under each precision, lowers the loss and reports its precision."
    data = synthetic_task('induction', 32, vocab_size=32)
    cfg = Config(**SMALL, amp=amp)
    m = train_and_evaluate('dot|softmax|none|fixed', cfg, data)
    assert m['status'] == 'ok' and m['device'].startswith('cuda')
    assert m['amp'] == {'auto': 'bfloat16' if native_bf16(torch.device('cuda')) else 'float16', 'fp16': 'float16', 'fp32': 'fp32'}[amp]
    first, last = m['loss_curve'][0][1], m['loss_curve'][-1][1]
    assert last < first and math.isfinite(m['perplexity']), m['loss_curve']
    again = train_and_evaluate('dot|softmax|none|fixed', cfg, data)
    assert again['perplexity'] == pytest.approx(m['perplexity'], rel=1e-3)      # seeded: the same result again

def test_workers_share_one_gpu(tmp_path):
    "Three evaluations at once on one GPU record the same genes and (within GPU reduction-order noise) perplexities."
    data = synthetic_task('induction', 32, vocab_size=32)
    res = {}
    for w in (1, 3):
        cfg = Config(**SMALL, population_size=3, n_generations=1, elite_size=1, baseline=False, workers=w)
        evo = Evolution(cfg, data=data, run_dir=tmp_path / f'w{w}', progress=False); evo.run()
        res[w] = {r['gene']: r['perplexity'] for r in evo.records}
    assert res[1].keys() == res[3].keys() and len(res[1]) == 3
    for g in res[1]: assert res[3][g] == pytest.approx(res[1][g], rel=1e-3), g

def test_compile_option_on_gpu():
    "Config.compile=True trains and gives the eager result within mixed-precision noise."
    data = synthetic_task('induction', 32, vocab_size=32)
    eager = train_and_evaluate('dot|softmax|none|fixed', Config(**SMALL), data)
    compiled = train_and_evaluate('dot|softmax|none|fixed', Config(**SMALL, compile=True), data)
    assert compiled['status'] == 'ok'
    assert compiled['perplexity'] == pytest.approx(eager['perplexity'], rel=0.05)
