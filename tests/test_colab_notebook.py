"The main Colab notebook, executed top to bottom headless (papermill), with smoke settings."
import json, os
from pathlib import Path
import pytest
from conftest import ROOT

papermill = pytest.importorskip('papermill')

def test_colab_notebook_runs_a_search_and_shows_findings(tmp_path):
    out_nb = tmp_path / 'colab.out.ipynb'
    env = {k: v for k, v in os.environ.items() if k != 'IN_TEST'}
    old = dict(os.environ); os.environ.clear(); os.environ.update(env)
    try:
        papermill.execute_notebook(str(ROOT / 'nbs' / 'colab.ipynb'), str(out_nb), cwd=str(tmp_path), kernel_name='python3',
                                   progress_bar=False, parameters=dict(
            PRESET='smoke', DATA='induction', RUN_ROOT=str(tmp_path / 'drive'), AUTO_START=True,
            OVERRIDES=dict(population_size=4, n_generations=2, elite_size=1, train_steps=60, device='cpu')))
    finally: os.environ.clear(); os.environ.update(old)
    run = tmp_path / 'drive' / 'smoke-seed42'
    summary = json.loads((run / 'summary.json').read_text())
    assert summary['finished'] and summary['evaluations'] >= 4 and summary['total_train_steps'] == 60 * summary['evaluations']
    nb = json.loads(out_nb.read_text())
    text = json.dumps(nb['cells'][-1]['outputs'])
    for title in ('Evolution timeline', 'Top 10 mechanisms', 'Component analysis', 'Baseline comparison', 'Diversity per generation'):
        assert title in text, title
    assert 'image/png' in text                      # the plots
    # a second run of the same notebook resumes (here: finds the search finished) and retrains nothing
    n = len((run / 'history.jsonl').read_text().splitlines())
    papermill.execute_notebook(str(ROOT / 'nbs' / 'colab.ipynb'), str(tmp_path / 'again.ipynb'), cwd=str(tmp_path), kernel_name='python3',
                               progress_bar=False, parameters=dict(PRESET='smoke', DATA='induction', RUN_ROOT=str(tmp_path / 'drive'),
                                                                   OVERRIDES=dict(population_size=4, n_generations=2, elite_size=1, train_steps=60, device='cpu')))
    assert len((run / 'history.jsonl').read_text().splitlines()) == n
