"""Population training (`train_together`) against one-by-one training (`train_and_evaluate`), on tiny CPU configs."""
import math, warnings
import pytest
import torch
from scipy import stats
from evo_attention import Config, train_and_evaluate
from evo_attention.data import synthetic_task
from evo_attention import population
from evo_attention.population import train_together
from evo_attention.memory import NotEnoughMemoryError

TINY = dict(vocab_size=32, max_seq_len=16, d_model=16, n_heads=2, n_layers=2, batch_size=8, eval_batch_size=64,
            train_steps=12, learning_rate=3e-3, log_interval=4, device='cpu', dropout=0.0)
DATA = synthetic_task('induction', max_seq_len=16, vocab_size=32, n_train=256, n_valid=32)
# every similarity, normalization, gating and temperature at least once; a bias-free gene; two genes in one group
GENES = ['dot|softmax|none|fixed|bias=true|dropout=0', 'multiplicative|sparsemax|input_gate|learned|bias=false|dropout=0',
         'additive|relu_norm|output_gate|adaptive|bias=true|dropout=0', 'cosine|sigmoid|highway|fixed|bias=true|dropout=0',
         'dot|sparsemax|output_gate|learned|bias=true|dropout=0', 'cosine|softmax|highway|adaptive|bias=false|dropout=0',
         'dot|softmax|none|fixed|bias=false|dropout=0']

def assert_same(t, one, rel=1e-4):
    "Loss curves equal at every logged step and perplexities equal, to `rel` relative."
    assert [s for s, _ in t['loss_curve']] == [s for s, _ in one['loss_curve']]
    for (s, a), (_, b) in zip(t['loss_curve'], one['loss_curve']): assert a == pytest.approx(b, rel=rel), (t['gene'], s, a, b)
    assert t['perplexity'] == pytest.approx(one['perplexity'], rel=rel), t['gene']
    assert (t['status'], t['steps'], t['tokens'], t['seed'], t['params']) == (one['status'], one['steps'], one['tokens'], one['seed'], one['params'])

@pytest.mark.parametrize('fast, paired', [(True, True), (False, True), (True, False)])
def test_together_equals_one_by_one(fast, paired):
    "Dropout 0, fp32: each model's curve and perplexity are its one-by-one training's (paired seeds: one batch for all; else its own)."
    cfg = Config(**TINY, fast=fast, paired_seeds=paired)
    reps = [0, 0, 0, 0, 0, 0, 1]
    together = train_together(GENES, cfg, DATA, replicates=reps)
    assert [m['gene'] for m in together] == [train_and_evaluate.__globals__['AttentionGene'].from_id(g).id for g in GENES]
    for g, r, t in zip(GENES, reps, together):
        one = train_and_evaluate(g, cfg, DATA, replicate=r)
        assert t['together'] == len(GENES) and set(t) - {'together'} == set(one)
        assert_same(t, one)

def test_result_does_not_depend_on_the_company():
    "A model trained with two different sets of other models (and groups) gets the same curve and perplexity (dropout 0)."
    cfg = Config(**TINY)
    a = train_together([GENES[0], GENES[1], GENES[2]], cfg, DATA)[0]
    b = train_together([GENES[3], GENES[6], GENES[0], GENES[5]], cfg, DATA)[2]
    assert a['gene'] == b['gene'] and (a['together'], b['together']) == (3, 4)
    assert_same(a, b, rel=1e-5)

def test_dropout_same_statistics():
    """With dropout, together and one by one differ only in their dropout masks. Over 6 replicates (paired by seed: same
    batches, same initial values), a paired t-test does not reject equal means at the 1% level, and the mean difference is
    under 2% of the mean perplexity; and dropout is really on (no training equals its dropout-0 twin)."""
    cfg = Config(**{**TINY, 'dropout': 0.1, 'train_steps': 30, 'log_interval': 10})
    gene, reps = 'dot|sparsemax|output_gate|learned|bias=true|dropout=0.2', list(range(6))
    tog = [m['perplexity'] for m in train_together([gene] * 6, cfg, DATA, replicates=reps)]
    one = [train_and_evaluate(gene, cfg, DATA, replicate=r)['perplexity'] for r in reps]
    assert all(map(math.isfinite, tog + one))
    p = stats.ttest_rel(tog, one).pvalue
    diff = abs(sum(tog) - sum(one)) / sum(one)
    assert p > 0.01 and diff < 0.02, (tog, one, p, diff)
    assert tog != one                                    # different masks: not the same numbers
    no_drop = train_and_evaluate(gene.replace('dropout=0.2', 'dropout=0'), Config(**{**cfg.to_dict(), 'dropout': 0.0}), DATA)
    assert no_drop['perplexity'] not in tog

def test_should_stop_stops_only_that_model():
    "One model's hurdle stops it (evaluated there, as one by one); the others train on, unchanged by it."
    cfg = Config(**TINY)
    stop = lambda step, loss: step >= 4
    logs = {0: [], 1: [], 2: []}
    r = train_together(GENES[:3], cfg, DATA, should_stop=[None, stop, None],
                       on_log=[lambda s, l, i=i: logs[i].append(s) for i in range(3)])
    assert [(m['status'], m['steps']) for m in r] == [('ok', 12), ('stopped', 4), ('ok', 12)]
    assert logs == {0: [1, 4, 8, 12], 1: [1, 4], 2: [1, 4, 8, 12]}
    assert_same(r[1], train_and_evaluate(GENES[1], cfg, DATA, should_stop=stop))
    assert_same(r[0], train_and_evaluate(GENES[0], cfg, DATA))

def test_split_when_it_does_not_fit(monkeypatch):
    "A population whose estimate exceeds the memory is halved until each part fits; results are unchanged."
    real = population.check_memory
    def check(config, genes, vocab_size=None, device=None, models=1):
        if models > 2: raise NotEnoughMemoryError(f"{models} models do not fit")
        return real(config, genes, vocab_size, device, models)
    monkeypatch.setattr(population, 'check_memory', check)
    cfg = Config(**TINY)
    ended = []
    r = train_together(GENES[:4], cfg, DATA, on_result=lambda i, m: ended.append(i))
    assert [m['together'] for m in r] == [2, 2, 2, 2] and sorted(ended) == [0, 1, 2, 3]
    assert_same(r[3], train_and_evaluate(GENES[3], cfg, DATA))

def test_fallbacks_and_errors():
    "A feed-forward layer that cannot be stacked (MoE) trains one by one with a warning; head gates group; hooks must be one per training; replicates one per gene."
    cfg = Config(**TINY)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        r = train_together(['dot|softmax|none|fixed|bias=true|dropout=0|ffn=moe', GENES[0], GENES[6]], cfg, DATA)
    assert [m['together'] for m in r] == [1, 2, 2]
    assert any('moe' in str(x.message) for x in w)
    heads = ['dot|softmax|head_gate|fixed|bias=true|dropout=0', 'dot|softmax|head_gate|fixed|bias=false|dropout=0']
    r = train_together(heads, cfg, DATA)                     # one gate per head: grouped, and equal to one by one
    assert [m['together'] for m in r] == [2, 2]
    for m, g in zip(r, heads): assert_same(m, train_and_evaluate(g, cfg, DATA))
    with pytest.raises(ValueError, match='one per training'): train_together(GENES[:2], cfg, DATA, should_stop=[None])
    with pytest.raises(ValueError, match='one per gene'): train_together(GENES[:2], cfg, DATA, replicates=[0])

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
def test_together_on_gpu():
    "On a GPU (bf16/fp32 as configured) the models trained together match one-by-one training within reduction-order noise."
    cfg = Config(**{**TINY, 'device': 'cuda', 'amp': 'fp32'})
    for g, t in zip(GENES, train_together(GENES, cfg, DATA)):
        assert_same(t, train_and_evaluate(g, cfg, DATA), rel=1e-3)

def test_positions():
    "Genes with every position option (learned, none, RoPE, ALiBi, FoX) trained together equal their one-by-one trainings."
    cfg = Config(**{**TINY, 'train_steps': 8})
    genes = [f'dot|softmax|none|fixed|bias=true|dropout=0|position={p}' for p in ('none', 'rope', 'alibi', 'fox')] + \
            ['dot|softmax|none|fixed|bias=false|dropout=0|position=fox', GENES[0]]   # two FoX genes: one group, run each on its own
    for g, t in zip(genes, train_together(genes, cfg, DATA)):
        assert t['together'] == len(genes)
        assert_same(t, train_and_evaluate(g, cfg, DATA))
