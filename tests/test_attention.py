"""Each option added since the original in the attention layer: causality in the layer and the model, and the fused
path against the reference path."""
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

# --- causality in the layer --------------------------------------------------------------------------

def leaks(genes, **kw):
    "Genes whose outputs at <= t change when inputs after t change, whose perturbation changed nothing, or non-finite."
    bad = []
    for g in genes:
        r = causal_check(g, **kw)
        if not (r['leak'] <= 1e-6 and r['changed'] and r['finite']): bad.append((g.id, r))
    return bad

def one_at_a_time(bases):
    "Each new option swapped into each base gene, once per component."
    for (comp, name), base in itertools.product(NEW_OPTIONS, bases):
        yield replace(base, **{comp: name})

def test_causal_new_options_several_bases():
    "Each new option from bases of dot/additive similarity, several normalizations, every gating and temperature (new ones too)."
    bases = [AttentionGene(s, n, g, t) for s, n, g, t in itertools.product(
        ['dot', 'additive', 'qk_norm'], ['softmax', 'sparsemax', 'sigmoid', 'softmax_sink'], options.GATINGS, options.TEMPERATURES)]
    genes = list(dict.fromkeys(one_at_a_time(bases)))
    assert len(genes) > 300
    assert leaks(genes) == []
    sinks = [g for g in genes if g.normalization in ('softmax1', 'softmax_sink')]
    assert leaks(sinks, fast=False) == []                            # the reference path of the fused ones too

def test_causal_every_registered_option():
    "The full product of the original four components, and every new option one at a time over that product: 0 leaks, 0 non-finite."
    originals = [AttentionGene(*c) for c in itertools.product(*ORIGINAL.values(), (True, False))]
    genes = originals + list(dict.fromkeys(one_at_a_time(originals)))
    assert len(genes) > 1500
    assert leaks(genes) == []

def test_causal_model_end_to_end():
    "Tokens after t never change the logits at <= t, for each new option in a 2-layer model."
    tiny = Config(vocab_size=50, max_seq_len=12, d_model=16, n_heads=2, n_layers=2, device='cpu')
    idx = torch.randint(0, 50, (2, 12), generator=torch.Generator().manual_seed(0)); t = 5
    idx2 = idx.clone(); idx2[:, t + 1:] = (idx[:, t + 1:] + 1) % 50
    for g in one_at_a_time([AttentionGene(), AttentionGene('additive', 'sparsemax', 'highway', 'adaptive')]):
        model = build_model(g, tiny).eval()
        with torch.no_grad(): a, b = model(idx), model(idx2)
        assert torch.allclose(a[:, :t + 1], b[:, :t + 1], atol=1e-5), g.id
        assert not torch.allclose(a[:, t + 1:], b[:, t + 1:]), g.id

# --- the fast path -------------------------------------------------------------------------------------

FUSED = [AttentionGene(s, n, g, t, dropout=0.0) for s, n, g, t in [
    ('qk_norm', 'softmax', 'none', 'fixed'), ('qk_norm', 'softmax', 'attn_gate', 'learned'),
    ('dot', 'softmax', 'none', 'ssmax'), ('qk_norm', 'softmax', 'head_gate', 'ssmax'),
    ('dot', 'softmax1', 'none', 'fixed'), ('cosine', 'softmax1', 'input_gate', 'adaptive'),
    ('dot', 'softmax_sink', 'none', 'fixed'), ('multiplicative', 'softmax_sink', 'highway', 'ssmax'),
    ('qk_norm', 'softmax_sink', 'attn_gate', 'learned')]]

@pytest.mark.parametrize('gene', FUSED, ids=lambda g: g.id)
def test_fast_equals_reference(gene):
    torch.manual_seed(0)
    fast = EvoAttention(gene, 32, 4, fast=True)
    with torch.no_grad():                                           # move every gene parameter away from its start
        for name, p in fast.named_parameters():
            if name.split('.')[0] in ('similarity', 'normalize', 'temperature'): p.add_(torch.randn(p.shape) * 0.5)
    ref = EvoAttention(gene, 32, 4, fast=False); ref.load_state_dict(fast.state_dict())
    assert fast.uses_fused and not ref.uses_fused
    x = torch.randn(3, 33, 32) * 2
    xf, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    yf, yr = fast(xf), ref(xr)
    torch.testing.assert_close(yf, yr, atol=1e-5, rtol=1e-5)
    yf.pow(2).sum().backward(); yr.pow(2).sum().backward()
    torch.testing.assert_close(xf.grad, xr.grad, atol=1e-4, rtol=1e-4)
    for (name, pf), pr in zip(fast.named_parameters(), ref.parameters()):
        assert (pf.grad - pr.grad).abs().max() <= 1e-4 * pr.grad.abs().max() + 1e-7, name

def test_fast_path_not_taken_elsewhere():
    for g in ['dot|sigmoid_logn|none|fixed', 'dot|stick_breaking|none|ssmax', 'additive|softmax_sink|none|fixed', 'dot|entmax15|attn_gate|fixed']:
        assert not EvoAttention(AttentionGene.from_id(g), 16, 4).uses_fused, g

def test_sink_fast_path_dropout_and_learning():
    "With dropout the fused sink path runs and trains its sink logit."
    att = EvoAttention(AttentionGene('dot', 'softmax_sink', dropout=0.2), 16, 4).train()
    att(torch.randn(2, 7, 16)).pow(2).sum().backward()
    assert att.uses_fused and torch.isfinite(att.normalize.sink.grad).all() and (att.normalize.sink.grad != 0).any()
