"Statistics of gene comparisons on known cases: planted differences, identical genes, degenerate and bad input."
import math, warnings
import numpy as np
import pytest
from scipy.stats import binomtest
from evo_attention.stats import compare, holm, option_effects, NO_DIFFERENCE, METHODS
import pandas as pd

def paired(effect, n, rng, shared=3.0, own=1.0):
    "Baseline and gene perplexities (about 100) on `n` replicates sharing their seed's luck; the gene is `effect` higher."
    luck = 100 + rng.normal(0, shared, n)
    return list(luck + rng.normal(0, own, n)), list(luck * (1 + effect) + rng.normal(0, own, n))

@pytest.mark.parametrize('method,n', [('t', 5), ('bootstrap', 8)])
@pytest.mark.parametrize('effect,verdict', [(-0.05, 'better'), (0.05, 'worse')])
def test_planted_difference_found(method, n, effect, verdict):
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(50):
        base, gene = paired(effect, n, rng)
        r = compare(base, {'g': gene}, method=method, n_resamples=999)[0]
        assert r['verdict'] != ('worse' if verdict == 'better' else 'better')   # never the wrong sign
        found += r['verdict'] == verdict
        assert r['ci_low'] <= r['mean_diff'] <= r['ci_high']
    assert found >= 48

@pytest.mark.parametrize('method,n', [('t', 5), ('bootstrap', 8)])
def test_identical_genes_not_called_different(method, n):
    rng, alarms = np.random.default_rng(11), 0
    for _ in range(200):
        base, gene = paired(0.0, n, rng)
        alarms += compare(base, {'same': gene}, method=method, n_resamples=999)[0]['verdict'] != NO_DIFFERENCE
    # a 5%-level test alarms on 5% of identical pairs by design: the count must not be significantly above that
    assert binomtest(alarms, 200, 0.05, alternative='greater').pvalue > 0.01, alarms

@pytest.mark.parametrize('method', METHODS)
def test_gene_with_itself(method):
    base = [101.2, 99.8, 100.5, 100.1]
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        r = compare(base, {'baseline': list(base), 'other': [100, 99, 99.5, 99.2]}, method=method)
    assert r[0]['verdict'] == NO_DIFFERENCE and r[0]['p_value'] == 1.0 and (r[0]['ci_low'], r[0]['ci_high']) == (0.0, 0.0)
    assert all(v is None or math.isfinite(v) for row in r for v in row.values() if isinstance(v, float))

def test_missing_values_and_small_n():
    rows = compare([100, None, 101, math.nan], {'a': [99, 98, math.inf, 97], 'b': [90, 91, 92, 93]})
    assert [r['n'] for r in rows] == [1, 2]
    assert rows[0]['p_value'] is None and rows[0]['p_holm'] is None and rows[0]['verdict'] == NO_DIFFERENCE
    assert 'too few' in rows[0]['test'] and rows[1]['p_holm'] == rows[1]['p_value']   # one test in the family

def test_bad_input():
    with pytest.raises(ValueError, match="has 2 values but the baseline has 3"): compare([1, 2, 3], {'a': [1, 2]})
    with pytest.raises(ValueError, match="method 'welch' is not one of t, bootstrap"): compare([1, 2], {'a': [1, 2]}, method='welch')

def test_holm_monotone():
    p = [0.04, 0.01, 0.03, 0.5]
    adj = holm(p)
    order = np.argsort(p)
    assert all(np.diff(np.array(adj)[order]) >= 0) and all(a >= q for a, q in zip(adj, p))
    assert adj == pytest.approx([0.09, 0.04, 0.09, 0.5])

def test_option_effects_interval():
    t = pd.DataFrame(dict(gating=['none'] * 4 + ['output_gate'] * 2, diff=[1., 2, 3, 4, -5, math.nan]))
    e = option_effects(t, ['gating']).set_index('option')
    assert e.loc['none', 'mean_diff'] == 2.5 and e.loc['none', 'ci_low'] < 2.5 < e.loc['none', 'ci_high']
    assert e.loc['output_gate', 'n'] == 1 and pd.isna(e.loc['output_gate', 'ci_low'])
