"Code written for the original EvoAttention: only its names and calls, imported from the package."
import subprocess, sys, textwrap
import pytest
import torch
import torch.nn.functional as F
from evo_attention import Config, AttentionGene, EvolvedAttention, TinyTransformer

KEYS = ['similarity', 'normalization', 'gating', 'temperature_mode', 'use_bias', 'attention_dropout']
VANILLA = dict(similarity='dot', normalization='softmax', gating='none', temperature_mode='fixed',
               use_bias=True, attention_dropout=0.1)
EVOLVED = dict(similarity='additive', normalization='sparsemax', gating='output_gate', temperature_mode='learned',
               use_bias=False, attention_dropout=0.2)

def test_class_lists_hold_the_options():
    for name, expected in (('SIMILARITY_FUNCS', {'dot', 'additive', 'multiplicative', 'cosine'}),
                           ('NORMALIZATIONS', {'softmax', 'sigmoid', 'relu_norm', 'sparsemax'}),
                           ('GATING', {'none', 'input_gate', 'output_gate', 'highway'}),
                           ('TEMPERATURE_MODES', {'fixed', 'learned', 'adaptive'})):
        value = getattr(AttentionGene, name)
        assert isinstance(value, list) and expected <= set(value), (name, value)

def test_gene_from_dict_and_back():
    gene = AttentionGene(gene_dict=dict(EVOLVED))
    assert gene.similarity == 'additive' and gene.temperature_mode == 'learned'
    assert gene.use_bias is False and gene.attention_dropout == pytest.approx(0.2)
    d = gene.to_dict()
    assert list(d) == KEYS and d == EVOLVED
    assert AttentionGene(gene_dict=d).to_dict() == d

def test_random_gene_components_are_in_the_lists():
    gene = AttentionGene().mutate(mutation_rate=1.0)
    assert gene.similarity in AttentionGene.SIMILARITY_FUNCS
    assert gene.normalization in AttentionGene.NORMALIZATIONS
    assert gene.gating in AttentionGene.GATING
    assert gene.temperature_mode in AttentionGene.TEMPERATURE_MODES
    assert 0.0 <= gene.attention_dropout <= 0.3

def test_mutation_changes_the_gene():
    gene = AttentionGene(gene_dict=dict(VANILLA))
    assert gene.mutate(mutation_rate=0.0).to_dict() == gene.to_dict()
    changed = sum(gene.mutate(mutation_rate=1.0).to_dict() != gene.to_dict() for _ in range(20))
    assert changed >= 19          # dropout is redrawn from [0, 0.3]: equal to 0.1 only by a rare rounding tie

def test_crossover_takes_each_component_from_a_parent():
    a, b = AttentionGene(gene_dict=dict(VANILLA)), AttentionGene(gene_dict=dict(EVOLVED))
    children = [a.crossover(b).to_dict() for _ in range(40)]
    for child in children:
        assert all(child[k] in (VANILLA[k], EVOLVED[k]) for k in KEYS), child
    assert any(c['similarity'] == 'dot' for c in children) and any(c['similarity'] == 'additive' for c in children)

def test_custom_gene_subclass_narrows_mutation():
    class CustomGene(AttentionGene):
        SIMILARITY_FUNCS = ['dot', 'additive']
        NORMALIZATIONS = ['softmax']
    gene = CustomGene(gene_dict=dict(VANILLA))
    for _ in range(30):
        child = gene.mutate(mutation_rate=1.0)
        assert child.similarity in ('dot', 'additive') and child.normalization == 'softmax'

def test_evolved_attention_forward_every_similarity_and_normalization():
    config = Config(device='cpu')
    x = torch.randn(2, 10, config.d_model)
    for key, names in (('similarity', AttentionGene.SIMILARITY_FUNCS), ('normalization', AttentionGene.NORMALIZATIONS)):
        for name in names:
            gene = AttentionGene(gene_dict={**VANILLA, key: name})
            out = EvolvedAttention(config.d_model, config.n_heads, gene)(x)
            assert out.shape == x.shape and torch.isfinite(out).all(), (key, name)

def test_tiny_transformer_forward_and_training_steps():
    config = Config(vocab_size=64, max_seq_len=16, d_model=32, n_heads=2, device='cpu')
    torch.manual_seed(0)
    model = TinyTransformer(config, AttentionGene(gene_dict=dict(EVOLVED, similarity='dot')))
    x = torch.randint(0, config.vocab_size, (4, 16))
    assert model(x).shape == (4, 16, config.vocab_size)
    assert model.get_num_params() == sum(p.numel() for p in model.parameters())
    seq = torch.arange(17).remainder(7)[None].repeat(8, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        logits = model(seq[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, config.vocab_size), seq[:, 1:].reshape(-1))
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses

def test_default_config_model():
    config = Config(device='cpu')
    model = TinyTransformer(config, AttentionGene(gene_dict=dict(VANILLA)))
    x = torch.randint(0, config.vocab_size, (2, 10))
    assert model(x).shape == (2, 10, config.vocab_size)

def test_fresh_interpreter():
    "The original's imports and calls in a new process, so a name missing from the package fails here."
    code = textwrap.dedent('''
        import torch
        from evo_attention import Config, AttentionGene, EvolvedAttention, TinyTransformer
        config = Config(vocab_size=50, max_seq_len=12, d_model=16, n_heads=2, device='cpu')
        g = AttentionGene(gene_dict=dict(similarity='cosine', normalization='sparsemax', gating='highway',
                                         temperature_mode='adaptive', use_bias=True, attention_dropout=0.0))
        g = g.mutate(mutation_rate=0.5).crossover(g)
        assert EvolvedAttention(config.d_model, config.n_heads, g)(torch.randn(1, 12, 16)).shape == (1, 12, 16)
        print(TinyTransformer(config, g)(torch.randint(0, 50, (1, 12))).shape[-1], sorted(g.to_dict()))
    ''')
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == '50' and 'temperature_mode' in r.stdout
