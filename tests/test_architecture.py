"""The architecture components (K/V heads, feed-forward layer, norm, attention window): registries and spaces
(searches draw what they drew before), gene ids (old ids unchanged), shapes, parameter counts, causality of every
option from several bases on both attention paths, fast == reference, the mixture of experts' load-balance loss in
training, and a short training on the induction task for every option."""
import itertools, math, random
from dataclasses import replace
import pytest
import torch
from evo_attention import Config, AttentionGene, SearchSpace, build_model
from evo_attention.architecture import (KV_HEADS, FFNS, NORMS, WINDOWS, MLP, SwiGLU, MixtureOfExperts, RMSNorm,
                                        kv_heads, make_ffn, make_norm, swiglu_hidden, window_mask)
from evo_attention.attention import EvoAttention, causal_check
from conftest import fast_matches_reference
from evo_attention.data import synthetic_task
from evo_attention.memory import param_count
from evo_attention.model import count_params, model_causal_check
from evo_attention.train import train_and_evaluate

pytestmark = pytest.mark.usefixtures('one_thread')   # tiny tensors: one torch thread (conftest)

COMPONENTS = {'kv_heads': KV_HEADS, 'ffn': FFNS, 'norm': NORMS, 'window': WINDOWS}
OPTIONS = [(c, n) for c, reg in COMPONENTS.items() for n in reg]
NON_DEFAULT = [(c, n) for c, n in OPTIONS if n != COMPONENTS[c].names()[0]]

def n_params(m): return sum(p.numel() for p in m.parameters())

# --- registries, spaces, ids ----------------------------------------------------------------------------

def test_registered_and_opt_in():
    built_in = dict(kv_heads={'mha', 'gqa', 'mqa'}, ffn={'gelu', 'swiglu', 'moe'}, norm={'layernorm', 'rmsnorm'},
                    window={'full', 'sliding'})
    for c, reg in COMPONENTS.items():
        assert built_in[c] <= set(reg.names()) and reg.component == c and reg.default == reg.names()[0]
        own = [n for n in reg.searchable() if reg[n].__module__.startswith('evo_attention.')]
        assert own == [reg.default]                                    # the built-in alternatives are opt-in
        for space in (SearchSpace(), SearchSpace.original()):
            assert space.options(c) == reg.searchable() and c not in vars(space)   # saved spaces unchanged

def test_default_space_draws_no_architecture():
    "A default space's samples keep every architecture component at its default (no random number drawn for them)."
    space, rng = SearchSpace(), random.Random(0)
    genes = [space.sample(rng) for _ in range(50)]
    assert all((g.kv_heads, g.ffn, g.norm, g.window) == ('mha', 'gelu', 'layernorm', 'full') for g in genes)
    # the same draws as a space whose architecture components are named at their defaults (set, never drawn)
    named = SearchSpace(kv_heads='mha', ffn='gelu', norm='layernorm', window='full')
    rng2 = random.Random(0)
    assert [named.sample(rng2) for _ in range(50)] == genes

def test_ids_round_trip():
    for c, n in OPTIONS:
        g = replace(AttentionGene('cosine', 'sparsemax', 'highway', 'adaptive', False, 0.25, position='rope'), **{c: n})
        assert AttentionGene.from_id(g.id) == g
        default = n == COMPONENTS[c].names()[0]
        assert g.id.endswith('|position=rope' if default else f'|position=rope|{c}={n}')
    every = AttentionGene(kv_heads='mqa', ffn='moe', norm='rmsnorm', window='sliding')
    assert every.id == 'dot|softmax|none|fixed|bias=true|dropout=0.1|kv_heads=mqa|ffn=moe|norm=rmsnorm|window=sliding'
    assert AttentionGene.from_id('dot|softmax|none|fixed|bias=true|dropout=0.1|window=sliding|norm=rmsnorm|ffn=moe|kv_heads=mqa') == every

def test_old_ids_unchanged():
    for s in ('dot|sparsemax|output_gate|learned', 'additive|relu_norm|highway|adaptive|bias=false|dropout=0.2',
              'dot|softmax|none|fixed|bias=true|dropout=0.1|position=rope'):
        g = AttentionGene.from_id(s)
        assert (g.kv_heads, g.ffn, g.norm, g.window) == ('mha', 'gelu', 'layernorm', 'full')
        assert g.id == s if s.count('|') >= 5 else g.id == s + '|bias=true|dropout=0.1'

def test_id_errors():
    with pytest.raises(ValueError, match="ffn 'relu' is not one of gelu, swiglu, moe"): AttentionGene.from_id('dot|softmax|none|fixed|bias=true|dropout=0.1|ffn=relu')
    with pytest.raises(ValueError, match='kv_heads is given twice'): AttentionGene.from_id('dot|softmax|none|fixed|bias=true|dropout=0.1|kv_heads=gqa|kv_heads=mqa')
    with pytest.raises(ValueError, match="window 'local' is not one of full, sliding"): SearchSpace(window=('full', 'local'))

def test_space_with_components():
    space = SearchSpace(**{c: tuple(r.names()) for c, r in COMPONENTS.items()})
    assert space.n_discrete == SearchSpace().n_discrete * 3 * 3 * 2 * 2
    rng = random.Random(1)
    a, b = space.sample(rng), space.sample(rng)
    kids = [space.crossover(a, b, rng) for _ in range(30)] + [space.mutate(a, 1.0, rng) for _ in range(30)]
    for c in COMPONENTS:
        assert all(getattr(k, c) in (getattr(a, c), getattr(b, c)) for k in kids[:30])
        assert len({getattr(k, c) for k in kids[30:]}) > 1                       # mutation redraws them

# --- shapes and parameter counts -----------------------------------------------------------------------

CFG = Config(vocab_size=40, max_seq_len=12, d_model=16, n_heads=4, n_layers=2, window_size=3, moe_experts=3, device='cpu')

@pytest.mark.parametrize('comp,name', OPTIONS, ids=str)
def test_shapes(comp, name):
    g = replace(AttentionGene(dropout=0.0), **{comp: name})
    x = torch.randn(2, 12, 16)
    for fast in (True, False):
        assert EvoAttention(g, 16, 4, fast=fast, window_size=3)(x).shape == (2, 12, 16)
        m = build_model(g, CFG, fast=fast)
        assert m(torch.randint(0, 40, (2, 12))).shape == (2, 12, 40)
        assert param_count(CFG, g, 40) == count_params(m)['total']

def test_kv_head_parameters():
    "GQA and MQA shrink the k and v projections: d·(d + 2·H_kv·hs) weights (+ biases) instead of 3·d·d."
    cfg = Config(vocab_size=100, device='cpu')                                 # d_model 128, 4 heads, 2 layers
    n = {kv: count_params(build_model(AttentionGene(kv_heads=kv), cfg))['non_embedding'] for kv in KV_HEADS}
    assert [kv_heads(kv, 4) for kv in KV_HEADS] == [4, 2, 1]
    assert n['mha'] - n['gqa'] == 2 * (128 + 1) * 128                         # per layer: k and v 64 outputs each instead of 128
    assert n['mha'] - n['mqa'] == 2 * (128 + 1) * 192                         # 32 each
    assert [kv_heads('gqa', h) for h in (1, 2, 3, 4, 6, 8)] == [1, 1, 1, 2, 3, 4]
    with pytest.raises(ValueError, match='d_model .* divisible'): EvoAttention(AttentionGene(kv_heads='gqa'), 18, 4)

def test_ffn_parameters():
    for d in (16, 32, 128, 256):
        gelu, swi = n_params(MLP(d, 0.1)), n_params(SwiGLU(d, 0.1))
        assert gelu == 8 * d * d + 5 * d
        h = swiglu_hidden(d)
        assert swi == 3 * d * h + 2 * h + d and abs(swi - gelu) <= (3 * d + 2) / 2      # equal within the rounding of h
    moe = MixtureOfExperts(32, 0.1, n_experts=5, top_k=2)
    assert n_params(moe) == 5 * n_params(MLP(32, 0.1)) + 5 * 32                      # E experts and a router without bias
    cfg = Config(vocab_size=100, device='cpu')
    base = count_params(build_model(AttentionGene(), cfg))['total']
    assert count_params(build_model(AttentionGene(ffn='moe'), cfg))['total'] - base == 2 * (3 * (8 * 128 ** 2 + 5 * 128) + 4 * 128)
    assert abs(count_params(build_model(AttentionGene(ffn='swiglu'), cfg))['total'] - base) <= 2 * (3 * 128 + 2) / 2

def test_norms():
    x = torch.randn(3, 5, 16) * 2 + 1
    rms = make_norm('rmsnorm', 16)
    assert n_params(rms) == 16 and n_params(make_norm('layernorm', 16)) == 32
    torch.testing.assert_close(rms(x), x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))
    fallback = RMSNorm(16)
    with torch.no_grad(): fallback.weight.uniform_(); rms.weight.copy_(fallback.weight)
    torch.testing.assert_close(fallback(x), rms(x))
    m = build_model(AttentionGene(norm='rmsnorm'), CFG)
    assert all(type(n).__name__ == 'RMSNorm' for n in (m.blocks[0].ln1, m.blocks[1].ln2, m.ln_f))

def test_window_mask():
    m = window_mask('sliding', 8, 3)
    visible = ~m & torch.ones(8, 8, dtype=torch.bool).tril()
    assert visible.sum(1).tolist() == [1, 2, 3, 3, 3, 3, 3, 3] and visible.diagonal().all()
    assert window_mask('full', 8, 3) is None and window_mask('sliding', 8, 8) is None

# --- causality and the two attention paths ---------------------------------------------------------------

BASES = ['dot|softmax|none|fixed|bias=true|dropout=0.1', 'additive|sparsemax|output_gate|learned|bias=false|dropout=0.1',
         'qk_norm|softmax_sink|head_gate|ssmax|bias=true|dropout=0.1|position=rope',
         'cosine|entmax15|input_gate|adaptive|bias=true|dropout=0.1|position=alibi',
         'dot|relu_norm|none|fixed|bias=true|dropout=0.1|position=fox', 'multiplicative|stick_breaking|highway|fixed|bias=true|dropout=0']

def test_causal_every_option_several_bases():
    "Every option of the four components, one at a time, from several bases, both paths: no leak, no non-finite output."
    bad = []
    for base, (comp, name), fast in itertools.product(BASES, OPTIONS, (True, False)):
        g = replace(AttentionGene.from_id(base), **{comp: name})
        for r in (causal_check(g, fast=fast), model_causal_check(g, fast=fast)):
            if not (r['leak'] <= 1e-5 and r['changed'] and r['finite']): bad.append((g.id, fast, r))
    assert bad == []

def test_fast_equals_reference():
    torch.manual_seed(0)
    x = torch.randn(2, 12, 16) * 2
    for kv, win, base in itertools.product(KV_HEADS, WINDOWS, ['dot|softmax|none|fixed', 'cosine|softmax1|output_gate|ssmax',
                                                            'dot|softmax_sink|none|learned|bias=true|dropout=0|position=fox']):
        gid = base if 'dropout' in base else f'{base}|bias=true|dropout=0'
        g = AttentionGene.from_id(f'{gid}|kv_heads={kv}|window={win}')
        fast_matches_reference(g, x, window_size=4)

def test_window_blocks_far_keys():
    "With window_size w, changing inputs at positions <= i - w leaves query i's output unchanged (both paths)."
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 12, 16, generator=g); x2 = x.clone(); x2[:, :3] += torch.randn(1, 3, 16, generator=g)
    for fast in (True, False):
        att = EvoAttention(AttentionGene(window='sliding', dropout=0.0), 16, 4, fast=fast, window_size=5).eval()
        with torch.no_grad(): a, b = att(x), att(x2)
        assert torch.equal(a[:, 7:], b[:, 7:]) and not torch.allclose(a[:, 6], b[:, 6])   # query 6 sees key 2; query 7 sees 3..7

# --- the mixture of experts' load-balance loss ------------------------------------------------------------

def test_extra_loss():
    idx = torch.randint(0, 40, (2, 12))
    for comp, name in OPTIONS:
        m = build_model(replace(AttentionGene(), **{comp: name}), CFG); m(idx)
        aux = m.extra_loss()
        if name == 'moe': assert aux is not None and aux.item() >= 0.01 * 2 * (1 - 1e-6) and aux.requires_grad
        else: assert aux is None, (comp, name)
    m = build_model(AttentionGene(ffn='moe'), Config(**{**CFG.to_dict(), 'moe_aux_weight': 0.5}))
    m(idx)
    assert m.extra_loss().item() == pytest.approx(0.5 * sum(b.mlp.aux.item() for b in m.blocks))

def test_training_adds_the_load_balance_loss():
    "The same MoE training with and without the auxiliary loss: the logged training losses differ by about its size."
    data = synthetic_task('induction', max_seq_len=12, vocab_size=16, n_train=64, n_valid=16)
    cfg = Config(vocab_size=16, max_seq_len=12, d_model=16, n_heads=4, batch_size=4, eval_batch_size=16, train_steps=1, device='cpu')
    runs = {w: train_and_evaluate('dot|softmax|none|fixed|bias=true|dropout=0|ffn=moe', Config(**{**cfg.to_dict(), 'moe_aux_weight': w}), data)
            for w in (0.0, 1.0)}
    gap = runs[1.0]['train_loss'] - runs[0.0]['train_loss']
    assert 2 * (1 - 1e-4) <= gap <= 2 * 4, gap                    # the same first forward; two layers, each loss in [1, E]

# --- a short training on the induction task ------------------------------------------------------------
# Uniform guessing is perplexity 16; copying the repeated half of each row gives about 4. Four heads (so GQA has
# two K/V heads) and a window of 10 keys: the copy looks 8 tokens back, so the sliding window must not hide it.

INDUCTION = Config(vocab_size=16, max_seq_len=16, d_model=32, n_heads=4, n_layers=2, batch_size=32, eval_batch_size=64,
                   train_steps=250, learning_rate=3e-3, log_interval=50, window_size=10, device='cpu')

@pytest.fixture(scope='module')
def induction():
    "The task, and the perplexity the default architecture reaches on it."
    data = synthetic_task('induction', max_seq_len=16, vocab_size=16, n_train=1024, n_valid=64)
    n = torch.get_num_threads(); torch.set_num_threads(1)
    try: return data, train_and_evaluate(AttentionGene().id, INDUCTION, data)['perplexity']
    finally: torch.set_num_threads(n)

@pytest.mark.parametrize('comp,name', NON_DEFAULT, ids=str)
def test_induction_learns(comp, name, induction):
    data, baseline = induction
    r = train_and_evaluate(replace(AttentionGene(), **{comp: name}).id, INDUCTION, data)
    assert r['status'] == 'ok' and math.isfinite(r['val_loss'])
    assert r['perplexity'] < 6 and r['perplexity'] < 1.5 * baseline, (name, r['perplexity'], baseline)

def test_short_window_cannot_copy(induction):
    "A window of 4 keys over 2 layers reaches 6 tokens back at most: the copy (8 back) stays out of reach, near uniform."
    data, _ = induction
    r = train_and_evaluate(AttentionGene(window='sliding').id, Config(**{**INDUCTION.to_dict(), 'window_size': 4}), data)
    assert r['perplexity'] > 12, r['perplexity']
