"""Search strategies and several objectives on the real search loop.

A single-objective GA search keeps the history it had before strategies and objectives existed
(tests/fixtures/search_reference.json); aging and random search resume to the same result; a search
with two objectives ranks by NSGA-II and takes its front to the finalist stage.
"""
import json, sys
from pathlib import Path
import pytest

sys.path.insert(0, str(Path(__file__).parent / 'fixtures'))
import search_reference as ref

REFERENCE = json.loads((Path(__file__).parent / 'fixtures' / 'search_reference.json').read_text())

def test_single_objective_history_unchanged(tmp_path, one_thread):
    got = ref.run_search(tmp_path / 'run')
    assert got['populations'] == REFERENCE['populations']
    if ref.machine() == REFERENCE['machine']: assert got['history'] == REFERENCE['history']
    else:                                                   # other CPU kernels round differently
        for g, w in zip(got['history'], REFERENCE['history'], strict=True):
            assert {k: v for k, v in g.items() if not isinstance(v, float)} == \
                   {k: v for k, v in w.items() if not isinstance(v, float)}
            assert g['perplexity'] == pytest.approx(w['perplexity'], rel=1e-3)

def test_two_objectives_rank_by_nsga2_and_report_the_front(tmp_path, one_thread):
    from evo_attention.evolution import Evolution
    from evo_attention.objectives import values_of, pareto_fronts
    from evo_attention.reporting import report_text, report_html, front_table
    cfg = ref.config(objectives='perplexity,params', n_generations=2, finalists=2, final_replicates=1)
    evo = Evolution(cfg, data=ref.data(), run_dir=tmp_path / 'run', progress=False)
    evo.run()
    vals = [values_of(i, cfg) for i in evo.population]
    first = pareto_fronts(vals)[0]
    assert sorted(first) == list(range(len(first)))          # the ranked population starts with its front
    fin = json.loads((tmp_path / 'run' / 'finalists.json').read_text())
    assert fin['objectives'] == ['perplexity', 'params'] and fin['front']
    finalists = [g['gene'] for g in fin['genes'] if g['role'] == 'finalist']
    assert finalists == [f['gene'] for f in fin['front']][:2]    # the front goes to the finalist stage
    t = front_table(tmp_path / 'run')
    assert (t['front'] == 1).sum() == len(fin['front']) and t['baseline'].any()
    txt = report_text(tmp_path / 'run')
    assert 'Front of perplexity, params' in txt and 'on the first front' in txt
    doc = report_html(tmp_path / 'run', tmp_path / 'report.html').read_text()
    assert 'Front of perplexity, params' in doc and 'alt="Front"' in doc
