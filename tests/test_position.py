"""The position component: gene ids (old ids unchanged), each option's shapes, causality, fast == reference path,
RoPE's relative property, ALiBi's slopes, a short training on the induction task, and models/losses of
learned-position genes identical to those of before the component existed (numbers stored from then)."""
import hashlib, itertools, math, random
import pytest
import torch
from evo_attention import Config, AttentionGene, SearchSpace, build_model
from evo_attention.attention import EvoAttention, causal_check
from conftest import fast_matches_reference
from evo_attention.data import synthetic_task
from evo_attention.model import count_params, init_paired
from evo_attention.position import POSITIONS, alibi_slopes, make_position
from evo_attention.train import train_and_evaluate

OPTIONS = ['learned', 'none', 'rope', 'alibi', 'fox']

pytestmark = pytest.mark.usefixtures('one_thread')   # tiny tensors: one torch thread (conftest)

def test_registered():
    assert set(OPTIONS) <= set(POSITIONS.names()) and POSITIONS.default == 'learned'
    assert {'learned', 'rope'} <= set(POSITIONS.searchable())
    assert not {'none', 'alibi', 'fox'} & set(POSITIONS.searchable())   # they do not learn induction at this size: opt-in
    assert SearchSpace().options('position') == POSITIONS.searchable()
    assert SearchSpace.original().options('position') == ['learned']

# --- gene ids ------------------------------------------------------------------------------------------

def test_ids_round_trip():
    for pos in OPTIONS:
        g = AttentionGene('cosine', 'sparsemax', 'highway', 'adaptive', False, 0.25, position=pos)
        assert AttentionGene.from_id(g.id) == g
        assert g.id.endswith('|bias=false|dropout=0.25' if pos == 'learned' else f'|bias=false|dropout=0.25|position={pos}')
        assert AttentionGene(gene_dict=g.to_dict()) == g
    old4, old6 = 'additive|relu_norm|input_gate|learned', 'dot|sigmoid|output_gate|fixed|bias=false|dropout=0.05'
    assert AttentionGene.from_id(old4) == AttentionGene('additive', 'relu_norm', 'input_gate', 'learned')
    assert AttentionGene.from_id(old4).id == 'additive|relu_norm|input_gate|learned|bias=true|dropout=0.1'
    assert AttentionGene.from_id(old6).id == old6 and AttentionGene.from_id(old6).position == 'learned'
    assert AttentionGene.from_id(old6 + '|position=learned').id == old6                  # the default is not written
    assert AttentionGene.from_id(old6 + '| position = fox').id == old6 + '|position=fox'
    assert sorted(AttentionGene.from_id(old4).to_dict()) == sorted(['similarity', 'normalization', 'gating', 'temperature_mode', 'use_bias', 'attention_dropout'])

def test_id_errors():
    base = 'dot|softmax|none|fixed|bias=true|dropout=0.1'
    with pytest.raises(ValueError, match=r"unknown field 'rope'.*allowed after the six fields: position="): AttentionGene.from_id(base + '|rope=1')
    with pytest.raises(ValueError, match='must have 4 fields'): AttentionGene.from_id(base + '|rope')
    with pytest.raises(ValueError, match='must have 4 fields'): AttentionGene.from_id('dot|softmax|none|fixed|position=rope')
    with pytest.raises(ValueError, match='given twice'): AttentionGene.from_id(base + '|position=rope|position=none')
    with pytest.raises(ValueError, match="position 'sin' is not one of learned, none, rope, alibi, fox"): AttentionGene.from_id(base + '|position=sin')

def test_space_with_positions():
    sp = SearchSpace(position=OPTIONS)
    rng = random.Random(0)
    genes = [sp.sample(rng) for _ in range(300)]
    assert {g.position for g in genes} == set(OPTIONS) and all(g in sp for g in genes)
    a, b = AttentionGene(position='rope'), AttentionGene(position='alibi')
    kids = [sp.crossover(a, b, rng).position for _ in range(200)]
    assert set(kids) == {'rope', 'alibi'} and 60 < kids.count('rope') < 140
    assert sum(sp.mutate(a, 1.0, rng).position != 'rope' for _ in range(100)) > 60
    assert all(sp.mutate(a, 0.0, rng) == a for _ in range(10))
    assert SearchSpace(position=['rope']).sample(rng).position == 'rope'
    assert vars(sp)['position'] == tuple(OPTIONS) and 'position' not in vars(SearchSpace())

# --- each option in the layer --------------------------------------------------------------------------

BASES = [(s, n, g) for s, n, g in itertools.product(('dot', 'additive', 'qk_norm'), ('softmax', 'sparsemax'), ('none', 'output_gate'))]

@pytest.mark.parametrize('pos', OPTIONS)
def test_causal_and_shapes(pos):
    for (sim, norm, gate), fast in itertools.product(BASES, (True, False)):
        g = AttentionGene(sim, norm, gate, position=pos)
        r = causal_check(g, fast=fast)
        assert r['leak'] <= 1e-6 and r['changed'] and r['finite'], (g.id, fast, r)
        att = EvoAttention(g, 16, 4, fast=fast)
        assert att(torch.randn(3, 7, 16)).shape == (3, 7, 16)

@pytest.mark.parametrize('pos', OPTIONS)
def test_fast_equals_reference(pos):
    torch.manual_seed(0)
    x = torch.randn(2, 20, 16) * 2
    for base in ('dot|softmax|none|fixed', 'multiplicative|softmax|head_gate|learned', 'cosine|softmax_sink|none|adaptive', 'qk_norm|softmax1|attn_gate|ssmax'):
        g = AttentionGene.from_id(f'{base}|bias=true|dropout=0|position={pos}')
        fast, ref = fast_matches_reference(g, x)
        for (n, pf), pr in zip(fast.named_parameters(), ref.parameters()):
            assert (pf.grad - pr.grad).abs().max() <= 1e-4 * pr.grad.abs().max() + 1e-7, (g.id, n)

def test_rope_relative():
    "For fixed query and key content, the layer's RoPE score depends on i − j only."
    torch.manual_seed(0)
    att = EvoAttention(AttentionGene('multiplicative', position='rope'), 16, 2, fast=False)
    with torch.no_grad(): att.similarity.W.add_(torch.randn_like(att.similarity.W) * 0.3)   # a non-trivial W: still relative
    qc, kc = torch.randn(8), torch.randn(8)
    def score(i, j, T=16):
        q, k = torch.zeros(1, 2, T, 8), torch.zeros(1, 2, T, 8)
        q[0, :, i], k[0, :, j] = qc, kc
        qd, kd = att.position.rotate(*att.similarity.as_dot(q, k))
        return (qd[0, :, i] * kd[0, :, j]).sum(-1)
    for d in (0, 2, 5):
        s = torch.stack([score(i, i - d) for i in range(d, 16)])
        torch.testing.assert_close(s, s[:1].expand_as(s), rtol=1e-4, atol=1e-4)
    assert (score(6, 5) - score(6, 1)).abs().max() > 1e-3

def test_alibi_slopes():
    assert alibi_slopes(4).tolist() == [1 / 4, 1 / 16, 1 / 64, 1 / 256]
    assert alibi_slopes(8).tolist() == [2.0 ** -k for k in range(1, 9)]
    b = make_position('alibi', 8, 16, 2).bias(torch.zeros(1, 6, 16))
    want = -torch.tensor([[i - j for j in range(6)] for i in range(6)], dtype=torch.float) / 2   # −m_1·(i − j), m_1 = 1/2
    assert torch.equal(b[0].tril(), want.tril())                                    # the future is masked anyway

def test_fox_start_and_parameters():
    fox = make_position('fox', 4, 16, 4)
    assert torch.equal(fox.w.detach(), torch.zeros(16, 4)) and torch.allclose(fox.b.detach(), torch.full((4,), math.log(128)))
    m = build_model('dot|softmax|none|fixed|bias=true|dropout=0.1|position=fox', Config(vocab_size=20, max_seq_len=8, d_model=16, n_heads=4, device='cpu'))
    assert torch.allclose(m.blocks[0].attn.position.b.detach(), torch.full((4,), math.log(128)))   # the GPT-2 init leaves it
    init_paired(m, 3)
    assert torch.allclose(m.blocks[0].attn.position.b.detach(), torch.full((4,), math.log(128)))

def test_count_params():
    cfg = Config(vocab_size=20, max_seq_len=8, d_model=16, n_heads=4, device='cpu')
    for pos in OPTIONS:
        n = count_params(build_model(AttentionGene(position=pos), cfg))
        assert n['embedding'] == 20 * 16 + (8 * 16 if pos == 'learned' else 0), pos

# --- a short training on the induction task ------------------------------------------------------------

INDUCTION = Config(vocab_size=16, max_seq_len=16, d_model=32, n_heads=2, n_layers=2, batch_size=32, eval_batch_size=64,
                   train_steps=250, learning_rate=3e-3, log_interval=50, device='cpu')

@pytest.fixture(scope='module')
def induction():
    return synthetic_task('induction', max_seq_len=16, vocab_size=16, n_train=1024, n_valid=64)

# Uniform guessing is perplexity 16; copying the second half of each row perfectly gives about 4.
# At this budget (250 steps, 2 heads of 16) absolute positions and RoPE learn the copy; ALiBi, NoPE
# and FoX stay at the uniform perplexity (they have no exact offset to look back by: ALiBi's two
# slopes, 1/16 and 1/256, barely separate neighbouring keys, NoPE must first count, FoX must learn its
# gates to forget sharply). They train without diverging, and stay opt-in.
LEARNS = {'learned', 'rope'}

@pytest.mark.parametrize('pos', OPTIONS)
def test_induction(pos, induction):
    r = train_and_evaluate(AttentionGene(position=pos).id, INDUCTION, induction)
    assert r['status'] == 'ok' and math.isfinite(r['val_loss'])
    if pos in LEARNS: assert r['perplexity'] < 7, (pos, r['perplexity'])
    else: assert r['perplexity'] < 17, (pos, r['perplexity'])     # no worse than guessing

# --- learned-position genes: the same models and losses as before the component existed ------------------
# Numbers computed with the code from before the position component, for 22 genes (the original four
# components, and a seeded sample of the default space) and 2 with newer options: the state-dict keys,
# two fingerprints (sum, and position-weighted sum, of the per-tensor sums: any change of a random draw or
# of its order changes them) after the seeded init and after `init_paired`, and 3 AdamW losses per path.

def _fp(m):
    v = [float(t.double().sum()) for t in m.state_dict().values()]
    return [sum(v), sum((i + 1) * x for i, x in enumerate(v))]

def test_learned_unchanged():
    cfg = Config(vocab_size=40, max_seq_len=12, d_model=16, n_heads=4, n_layers=2, device='cpu')
    idx = torch.randint(0, 40, (3, 13), generator=torch.Generator().manual_seed(1))
    for gene, keys, init, paired, loss_fast, loss_ref in REFERENCE:
        for fast, want in ((True, loss_fast), (False, loss_ref)):
            torch.manual_seed(11); m = build_model(gene, cfg, fast=fast)
            assert hashlib.sha256('|'.join(m.state_dict()).encode()).hexdigest()[:12] == keys, gene
            assert _fp(m) == pytest.approx(init, rel=1e-8, abs=1e-7), gene
            assert _fp(init_paired(build_model(gene, cfg, fast=fast), 5)) == pytest.approx(paired, rel=1e-8, abs=1e-7), gene
            torch.manual_seed(3); opt = torch.optim.AdamW(m.parameters(), lr=1e-2); losses = []
            for _ in range(3):
                loss = m.loss(idx[:, :-1], idx[:, 1:]); opt.zero_grad(); loss.backward(); opt.step(); losses.append(loss.item())
            # 1e-4: other CPUs' kernels round differently, and relu_norm genes grow that rounding within 3 steps
            assert losses == pytest.approx(want, rel=1e-4), (gene, fast)

def test_original_space_draws_unchanged():
    "Samples, crossovers and mutations of the original's space: the same genes, from the same random numbers, as before."
    space, rng, seq = SearchSpace.original(), random.Random(3), []
    for _ in range(10):
        a, b = space.sample(rng), space.sample(rng)
        seq += [a.id, space.crossover(a, b, rng).id, space.mutate(a, 0.5, rng).id]
    assert seq == SPACE_SEQUENCE

REFERENCE = [  # gene, state-dict keys, init fingerprint, paired-init fingerprint, 3 losses (fast path), 3 losses (reference path)
    ["dot|softmax|none|fixed", "9762c8fb91a8", [82.60104788, 1109.46249], [81.44696941, 1097.150837], [3.696578979, 3.549164534, 3.447145939], [3.696578979, 3.549164534, 3.447145939]],
    ["multiplicative|sparsemax|output_gate|learned", "2ba43c46a5e8", [117.9277379, 2066.265159], [117.3352583, 2041.219211], [3.690115213, 3.546032906, 3.43129611], [3.690115213, 3.546032906, 3.43129611]],
    ["additive|relu_norm|highway|adaptive", "169a5e3fcde1", [75.88938827, 1506.556512], [80.72355661, 1562.711552], [3.687697887, 3.559420586, 3.450248241], [3.687697887, 3.559420586, 3.450248241]],
    ["cosine|sigmoid|input_gate|fixed", "f463172f68e6", [81.92773795, 1244.677214], [81.33525831, 1222.593566], [3.68921876, 3.567164183, 3.454667568], [3.68921876, 3.567164183, 3.454667568]],
    ["dot|topk_softmax|none|learned", "f76ba2092f4c", [86.60104788, 1245.932843], [85.44696941, 1232.923496], [3.696475029, 3.550335884, 3.444195747], [3.696475029, 3.550335884, 3.444195747]],
    ["additive|sparsemax|highway|adaptive|bias=true|dropout=0.02", "169a5e3fcde1", [75.88938827, 1506.556512], [80.72355661, 1562.711552], [3.687656879, 3.559283733, 3.449773788], [3.687656879, 3.559283733, 3.449773788]],
    ["dot|relu_norm|none|adaptive|bias=true|dropout=0.01", "4ccf3fa832df", [82.60104788, 1242.403195], [81.44696941, 1228.696156], [3.695857048, 3.556797028, 3.45334363], [3.695857048, 3.556797028, 3.45334363]],
    ["cosine|sigmoid|none|fixed|bias=true|dropout=0.17", "9762c8fb91a8", [82.60104788, 1109.46249], [81.44696941, 1097.150837], [3.695747852, 3.567999601, 3.460045099], [3.695747852, 3.567999601, 3.460045099]],
    ["dot|softmax|input_gate|adaptive|bias=true|dropout=0.17", "c02eee0ef267", [81.92773795, 1378.265159], [81.33525831, 1353.219211], [3.690735817, 3.558739901, 3.444851875], [3.690735817, 3.558739901, 3.444851875]],
    ["cosine|softmax|input_gate|fixed|bias=true|dropout=0.09", "f463172f68e6", [81.92773795, 1244.677214], [81.33525831, 1222.593566], [3.690519094, 3.558200359, 3.444794178], [3.690519094, 3.558200359, 3.444794178]],
    ["multiplicative|softmax|output_gate|adaptive|bias=true|dropout=0.03", "a83ac9ec0cd4", [113.9277379, 2069.059131], [113.3352583, 2042.532033], [3.69028306, 3.546597481, 3.431160927], [3.69028306, 3.546597481, 3.431160927]],
    ["multiplicative|relu_norm|none|adaptive|bias=true|dropout=0.17", "6e1dc4c93403", [114.6010479, 1900.873547], [113.4469694, 1886.468815], [3.695600271, 3.555538177, 3.444330454], [3.695600271, 3.555538177, 3.444330454]],
    ["multiplicative|sigmoid|highway|learned|bias=false|dropout=0.18", "b413af67905d", [118.5300496, 1821.98436], [117.3352583, 1802.665227], [3.689618826, 3.551174164, 3.464094877], [3.689618826, 3.551174164, 3.464094877]],
    ["cosine|relu_norm|output_gate|fixed|bias=true|dropout=0.21", "f463172f68e6", [81.92773795, 1244.677214], [81.33525831, 1222.593566], [3.692096233, 3.556994915, 3.440840483], [3.692096233, 3.556994915, 3.440840483]],
    ["multiplicative|softmax|output_gate|adaptive|bias=false|dropout=0.26", "840ed5d3ede2", [114.5300496, 1836.062118], [113.3352583, 1815.978049], [3.6978302, 3.547332764, 3.442930698], [3.6978302, 3.547332764, 3.442930698]],
    ["cosine|relu_norm|none|fixed|bias=false|dropout=0.05", "1bcb872223a1", [82.04571515, 966.5450387], [81.44696941, 965.6771783], [3.706600666, 3.536700726, 3.419515371], [3.706600666, 3.536700726, 3.419515371]],
    ["additive|sparsemax|highway|learned|bias=true|dropout=0.29", "ee25ba16be23", [79.88938827, 1530.919925], [84.72355661, 1588.38379], [3.687654734, 3.559329033, 3.449823618], [3.687654734, 3.559329033, 3.449823618]],
    ["dot|relu_norm|output_gate|adaptive|bias=false|dropout=0.18", "44e432a23cf4", [82.53004965, 1241.98436], [81.33525831, 1222.665227], [3.697061777, 3.551905632, 3.444398165], [3.697061777, 3.551905632, 3.444398165]],
    ["cosine|softmax|none|learned|bias=false|dropout=0.21", "dbaf0bb19254", [86.04571515, 1090.211523], [85.44696941, 1089.449838], [3.703529358, 3.525123596, 3.414202929], [3.703529358, 3.525123596, 3.414202929]],
    ["dot|softmax|output_gate|adaptive|bias=false|dropout=0.09", "44e432a23cf4", [82.53004965, 1241.98436], [81.33525831, 1222.665227], [3.697426796, 3.546622753, 3.441608429], [3.697426796, 3.546622753, 3.441608429]],
    ["cosine|relu_norm|none|learned|bias=false|dropout=0.05", "dbaf0bb19254", [86.04571515, 1090.211523], [85.44696941, 1089.449838], [3.706600666, 3.536700726, 3.419515371], [3.706600666, 3.536700726, 3.419515371]],
    ["dot|sigmoid|none|fixed|bias=false|dropout=0.04", "1bcb872223a1", [82.04571515, 966.5450387], [81.44696941, 965.6771783], [3.700488567, 3.549066067, 3.475658655], [3.700488567, 3.549066067, 3.475658655]],
]
SPACE_SEQUENCE = [
    "multiplicative|sparsemax|output_gate|adaptive|bias=false|dropout=0.19", "dot|softmax|highway|adaptive|bias=true|dropout=0.19", "cosine|sparsemax|output_gate|adaptive|bias=true|dropout=0.19",
    "additive|sigmoid|highway|adaptive|bias=false|dropout=0.12", "additive|sparsemax|highway|fixed|bias=false|dropout=0.04", "additive|sigmoid|input_gate|adaptive|bias=false|dropout=0.12",
    "additive|sparsemax|output_gate|adaptive|bias=true|dropout=0.21", "multiplicative|sparsemax|output_gate|adaptive|bias=true|dropout=0.21", "cosine|sparsemax|none|adaptive|bias=false|dropout=0.21",
    "dot|relu_norm|none|fixed|bias=true|dropout=0.18", "dot|sparsemax|none|learned|bias=false|dropout=0.18", "cosine|relu_norm|none|fixed|bias=true|dropout=0.18",
    "additive|sigmoid|input_gate|learned|bias=false|dropout=0.29", "additive|relu_norm|input_gate|learned|bias=false|dropout=0.01", "additive|sigmoid|none|learned|bias=false|dropout=0.14",
    "additive|sparsemax|output_gate|fixed|bias=false|dropout=0.23", "additive|sparsemax|highway|fixed|bias=false|dropout=0.23", "additive|sparsemax|output_gate|fixed|bias=false|dropout=0.24",
    "multiplicative|softmax|output_gate|adaptive|bias=true|dropout=0.27", "multiplicative|relu_norm|input_gate|adaptive|bias=true|dropout=0.16", "multiplicative|softmax|input_gate|adaptive|bias=true|dropout=0.1",
    "cosine|relu_norm|highway|adaptive|bias=false|dropout=0.01", "cosine|sparsemax|highway|fixed|bias=false|dropout=0.01", "cosine|relu_norm|highway|adaptive|bias=false|dropout=0.01",
    "dot|relu_norm|none|fixed|bias=true|dropout=0.01", "dot|relu_norm|none|fixed|bias=true|dropout=0.22", "dot|relu_norm|none|fixed|bias=true|dropout=0.07",
    "dot|softmax|input_gate|fixed|bias=false|dropout=0.28", "dot|softmax|highway|fixed|bias=false|dropout=0.01", "dot|softmax|none|fixed|bias=false|dropout=0.15",
]
