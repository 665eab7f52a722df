"""Options registered from outside the package — a normalization function and a gate class with its own parameters —
work everywhere a built-in option does: ids, search spaces, a search, memory estimates, causality, training one by one
and together, the form, `evo-attention options` and the report. Contract breaches are refused at registration."""
import importlib.util, os, subprocess, sys, textwrap
from pathlib import Path
import pytest
import torch
from evo_attention import Config, Evolution, SearchSpace, AttentionGene, train_and_evaluate, causal_check, estimate_memory
from evo_attention.options import GATINGS, NORMALIZATIONS, OptionError
from evo_attention.data import synthetic_task
from evo_attention.population import train_together

ROOT = Path(__file__).resolve().parents[1]
# A user's module: it imports the package, then registers its own options (the package never imports it).
USER = textwrap.dedent('''
    import torch, torch.nn as nn, torch.nn.functional as F
    from evo_attention import NORMALIZATIONS, GATINGS

    @NORMALIZATIONS.register('softplus_norm')
    def softplus_norm(s):
        "softplus(s) / Σ softplus(s) over the visible keys (softplus(-inf) = 0)."
        r = F.softplus(s)
        return r / r.sum(-1, keepdim=True)

    @GATINGS.register('scaled_gate')
    class ScaledGate(nn.Module):
        "o ⊙ 2σ(W x + b) per channel: an output gate that starts near 1."
        def __init__(self, d_model, n_heads=None):
            super().__init__()
            self.gate = nn.Linear(d_model, d_model)
        def pre(self, x): return x
        def post(self, o, x): return o * 2 * torch.sigmoid(self.gate(x))
''')
GENE = 'dot|softplus_norm|scaled_gate|fixed|bias=true|dropout=0'
TINY = dict(vocab_size=32, max_seq_len=16, d_model=16, n_heads=2, n_layers=2, batch_size=8, eval_batch_size=32,
            train_steps=30, learning_rate=3e-3, log_interval=10, device='cpu', dropout=0.0)
DATA = synthetic_task('induction', max_seq_len=16, vocab_size=32, n_train=256, n_valid=32)

@pytest.fixture(scope='module')
def user(tmp_path_factory):
    "The user's module, imported from a folder outside the package; its options unregistered afterwards."
    folder = tmp_path_factory.mktemp('user')
    (folder / 'my_options.py').write_text(USER)
    spec = importlib.util.spec_from_file_location('my_options', folder / 'my_options.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    yield folder
    NORMALIZATIONS.unregister('softplus_norm'); GATINGS.unregister('scaled_gate')

def fresh(folder, code: str) -> str:
    "Run `code` in a fresh Python that imports the user's module first (as a user's script would); its output."
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(folder), str(ROOT)])}
    r = subprocess.run([sys.executable, '-c', f'import my_options\n{code}'], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout

def test_gene_ids(user):
    g = AttentionGene.from_id(GENE)
    assert (g.normalization, g.gating) == ('softplus_norm', 'scaled_gate') and AttentionGene.from_id(g.id) == g

def test_search_spaces(user):
    assert {'softplus_norm'} <= set(SearchSpace().options('normalization'))   # a searchable option joins the default space
    assert {'scaled_gate'} <= set(SearchSpace().options('gating'))
    assert AttentionGene.from_id(GENE) in SearchSpace(normalization=('softplus_norm',), gating=('scaled_gate', 'none'))

def test_memory_estimate(user):
    "Undeclared, the normalization gets its contract's conservative workspace; declared, its own."
    cfg = Config(device='cpu')
    mine, soft = (estimate_memory(cfg, g.replace('dropout=0', 'dropout=0.1')) for g in (GENE, GENE.replace('softplus_norm', 'softmax')))
    assert mine['scores'] > 0 and mine['params'] == soft['params']
    sig = estimate_memory(cfg, GENE.replace('softplus_norm', 'sigmoid').replace('dropout=0', 'dropout=0.1'))
    assert mine['scores'] > sig['scores']                                      # work 10 against sigmoid's declared 3
    NORMALIZATIONS._declared['softplus_norm']['memory'] = dict(kept=0, work=3)
    try: assert estimate_memory(cfg, GENE.replace('dropout=0', 'dropout=0.1'))['scores'] == sig['scores']
    finally: del NORMALIZATIONS._declared['softplus_norm']['memory']

def test_causal(user):
    for fast in (True, False):
        r = causal_check(AttentionGene.from_id(GENE), fast=fast)
        assert r['leak'] <= 1e-6 and r['changed'] and r['finite'], r

@pytest.mark.slow
def test_together_equals_one_by_one(user):
    "Trained together with a built-in gene, the user's gene ends where it ends alone (dropout 0, fp32): the same numbers."
    cfg = Config(**TINY)
    genes = [GENE, 'dot|softplus_norm|none|fixed|bias=false|dropout=0', 'dot|softmax|none|fixed|bias=true|dropout=0']
    tog = train_together(genes, cfg, DATA)
    for g, t in zip(genes, tog):
        one = train_and_evaluate(g, cfg, DATA)
        assert t['together'] == 3 and t['perplexity'] == pytest.approx(one['perplexity'], rel=1e-6), (g, t, one)

def test_contract_refused_at_registration(user):
    class NoPost(torch.nn.Module):
        def __init__(self, d_model): super().__init__()
        def pre(self, x): return x
    with pytest.raises(OptionError, match=r"gating option 'no_post': class NoPost lacks post\(o, x\)"):
        GATINGS.register('no_post')(NoPost)
    with pytest.raises(OptionError, match=r"cannot be called as <lambda>\(s\)"):
        NORMALIZATIONS.register('two_args')(lambda s, t: s)
    assert 'no_post' not in GATINGS and 'two_args' not in NORMALIZATIONS

def test_form(user):
    pytest.importorskip('ipywidgets')
    from evo_attention.widgets import EvolutionForm
    form = EvolutionForm('smoke', device='cpu', run_dir=user / 'form')
    names = {c: [b.description for b in bs] for c, bs in form.components.items()}
    assert 'softplus_norm' in names['normalization'] and 'scaled_gate' in names['gating']
    for b in form.components['normalization']: b.value = b.description == 'softplus_norm'
    assert form.search_space().options('normalization') == ['softplus_norm']

def test_options_command(user):
    "A fresh process: the package does not know the user's options until the user's module is imported."
    out = fresh(user, 'from evo_attention.cli import main; main(["options"])')
    assert '* softplus_norm' in out and '* scaled_gate' in out

@pytest.mark.slow
def test_search_and_report(user):
    "A tiny search over the user's options in a fresh process (as a user's script runs it), then its report."
    run = user / 'run'
    fresh(user, textwrap.dedent(f'''
        from evo_attention import Config, Evolution, SearchSpace, synthetic_task
        cfg = Config(**{dict(TINY, train_steps=10, population_size=3, n_generations=2, elite_size=1, finalists=0,
                               ablations=False)!r})
        space = SearchSpace(normalization=('softplus_norm', 'softmax'), gating=('scaled_gate', 'none'),
                            similarity=('dot',), temperature=('fixed',))
        Evolution(cfg, data=synthetic_task('induction', 16, vocab_size=32, n_train=128, n_valid=32), search_space=space,
                  run_dir={str(run)!r}, progress=False).run()'''))
    out = fresh(user, f'from evo_attention.cli import main; main(["report", {str(run)!r}])')
    assert 'softplus_norm' in out or 'scaled_gate' in out

def test_declared_not_stacking_trains_alone(user):
    "An option that declares stacks=False trains one by one inside `train_together`, and the warning says why."
    GATINGS.register('solo_gate', stacks=False)(GATINGS['scaled_gate'])
    try:
        cfg = Config(**{**TINY, 'train_steps': 4, 'log_interval': 2})
        genes = ['dot|softmax|solo_gate|fixed|bias=true|dropout=0', 'dot|softmax|solo_gate|fixed|bias=false|dropout=0']
        with pytest.warns(UserWarning, match="gating 'solo_gate' declares stacks=False"):
            res = train_together(genes, cfg, DATA)
        assert [r.get('together') for r in res] == [1, 1]
        assert res[0]['perplexity'] == train_and_evaluate(genes[0], cfg, DATA)['perplexity']
    finally: GATINGS.unregister('solo_gate')
