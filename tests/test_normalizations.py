"""The normalizations on their own: properties over masked and extreme scores, half precision, 1.5-entmax against
the entmax package, stick-breaking against its definition."""
import itertools, math
from dataclasses import replace
import pytest
import torch
from evo_attention import Config, AttentionGene, SearchSpace, build_model
from evo_attention import options
from evo_attention.attention import EvoAttention, causal_check
from evo_attention.data import synthetic_task
from evo_attention.gene import ORIGINAL_OPTIONS
from evo_attention.normalizations import make_normalization
from evo_attention.train import train_and_evaluate

from conftest import NEW, NEW_NORMS, NEW_OPTIONS, ORIGINAL, REGISTRIES

pytestmark = pytest.mark.usefixtures('one_thread')   # tiny tensors: one torch thread (conftest)

# --- normalizations on their own -----------------------------------------------------------------------

def scores(dtype=torch.float32, scale=3.0, T=12):
    "(B, H, T, T) causal scores with extreme values; batch row 1, head 0 fully masked."
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 3, T, T, generator=g, dtype=dtype) * scale
    s[0, 1, 5] = torch.tensor([1e4, -1e4] * (T // 2), dtype=dtype)     # huge positive and negative scores
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    s = s.masked_fill(future, float('-inf'))
    s[1, 0] = float('-inf')
    return s, future

@pytest.mark.parametrize('name', NEW_NORMS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_normalization_properties(name, dtype):
    s, future = scores(dtype)
    f = make_normalization(name, n_heads=3)
    x = s.clone().requires_grad_()
    w = f(x)
    assert w.shape == s.shape and w.dtype == dtype
    assert torch.isfinite(w).all(), 'non-finite weights'
    assert (w >= 0).all() and (w <= 1).all()
    assert (w.masked_select(future.expand_as(w)) == 0).all(), 'weight on a future key'
    assert (w[1, 0] == 0).all(), 'a fully masked row must give zeros'
    sums = w.sum(-1)
    live = torch.ones_like(sums, dtype=torch.bool); live[1, 0] = False
    if name == 'entmax15': torch.testing.assert_close(sums[live], torch.ones_like(sums[live]))
    elif name != 'sigmoid_logn': assert (sums <= 1 + 1e-6).all(), f'{name} rows sum to more than 1'
    else: assert (sums > 1).any()                                       # independent sigmoids: no bound at large scores
    (w * torch.randn(s.shape, dtype=dtype)).sum().backward()
    assert torch.isfinite(x.grad).all(), 'non-finite gradient'
    assert (x.grad.masked_select(future.expand_as(x)) == 0).all() and (x.grad[1, 0] == 0).all()

@pytest.mark.parametrize('name', NEW_NORMS)
def test_normalization_half_precision(name):
    s, _ = scores(scale=2.0)
    s[0, 1, 5] = s[0, 1, 4]                                           # no 1e4 scores: bf16 spacing there is 32
    f = make_normalization(name, 3)
    w = f(s.bfloat16())
    assert w.dtype == torch.bfloat16 and torch.isfinite(w).all()
    torch.testing.assert_close(w.float(), f(s.bfloat16().float()), atol=2e-2, rtol=0)

def test_entmax15_matches_package():
    entmax = pytest.importorskip('entmax')
    g = torch.Generator().manual_seed(1)
    for shape, scale in itertools.product([(5,), (4, 9), (2, 3, 33)], [1e-3, 1.0, 30.0]):
        x = torch.randn(*shape, generator=g, dtype=torch.float64) * scale
        x = x.masked_fill(torch.rand(shape, generator=g) < 0.3, float('-inf')); x[..., 0] = 1.0
        torch.testing.assert_close(make_normalization('entmax15', 1)(x), entmax.entmax15(x, dim=-1))

def test_stick_breaking_definition():
    T = 6
    s = torch.randn(2, T, T, dtype=torch.float64).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float('-inf'))
    b = torch.sigmoid(s)
    ref = torch.zeros_like(s)
    for i, j in itertools.product(range(T), range(T)):
        if j < i: ref[:, i, j] = b[:, i, j] * torch.prod(1 - b[:, i, j + 1:i], -1)
    torch.testing.assert_close(options.NORMALIZATIONS['stick_breaking'](s), ref)
