"The main Colab notebook: executed top to bottom headless (papermill) with smoke settings, its metadata and its pinned install."
import configparser, json, os, re, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT

NB = ROOT / 'nbs' / 'colab.ipynb'
TINY = dict(population_size=4, n_generations=2, elite_size=1, train_steps=30, d_model=16, max_seq_len=16, device='cpu',
            finalists=1, final_replicates=2, ablations=False)

def _execute(out_nb, cwd, **parameters):
    "Run the notebook as a user would (not in the docs' IN_TEST mode); returns its cells."
    papermill = pytest.importorskip('papermill')
    env = {k: v for k, v in os.environ.items() if k != 'IN_TEST'}
    old = dict(os.environ); os.environ.clear(); os.environ.update(env)
    try: papermill.execute_notebook(str(NB), str(out_nb), cwd=str(cwd), kernel_name='python3', progress_bar=False, parameters=parameters)
    finally: os.environ.clear(); os.environ.update(old)
    return json.loads(Path(out_nb).read_text())['cells']

def _text(cell) -> str:
    return ''.join(''.join(o.get('text', '')) + ''.join(o.get('data', {}).get('text/plain', '')) for o in cell.get('outputs', []))

def _cell(cells, needle):
    return next(c for c in cells if c['cell_type'] == 'code' and needle in ''.join(c['source']))

def test_colab_notebook_runs_a_search_and_shows_findings(tmp_path):
    cells = _execute(tmp_path / 'colab.out.ipynb', tmp_path, PRESET='smoke', DATA='induction', RUN_ROOT=str(tmp_path / 'drive'),
                     AUTO_START=True, OVERRIDES=TINY)
    run = tmp_path / 'drive' / 'smoke-seed42'
    summary = json.loads((run / 'summary.json').read_text())
    assert summary['finished'] and summary['evaluations'] >= 4 and summary['total_train_steps'] == TINY['train_steps'] * summary['evaluations']
    # the search ran in the search cell: one printed line per training, then the Done line
    out = _text(_cell(cells, 'form.run()'))
    lines = [l for l in out.splitlines() if re.match(r'\d\d:\d\d:\d\d  ', l)]
    assert len(lines) == summary['evaluations'], out
    assert all(' perplexity ' in l and l.endswith(' s') for l in lines) and 'Done: best' in out
    text = json.dumps(cells[-1]['outputs'])
    for title in ('Evolution timeline', 'Top 10 mechanisms', 'Component analysis', 'Baseline comparison', 'Diversity per generation'):
        assert title in text, title
    assert 'image/png' in text                      # the plots
    assert 'Finalists on fresh seeds' in text and any(v in text for v in ('no detectable difference', 'better', 'worse'))
    assert (run / 'report.html').stat().st_size > 10_000 and 'report.html' in text   # the same findings as one file on Drive
    # a second run of the same notebook finds the search finished and retrains nothing
    n = len((run / 'history.jsonl').read_text().splitlines())
    again = _execute(tmp_path / 'again.ipynb', tmp_path, PRESET='smoke', DATA='induction', RUN_ROOT=str(tmp_path / 'drive'), OVERRIDES=TINY)
    assert len((run / 'history.jsonl').read_text().splitlines()) == n
    assert 'press Start' in _text(_cell(again, 'form.run()'))

def test_run_all_after_a_disconnect_resumes_the_folder_chosen_in_the_form_on_its_data(tmp_path):
    "A search started in a folder typed into the form, on `induction`, cut off: Run all finds that folder and resumes it on its data."
    from evo_attention.widgets import EvolutionForm
    from evo_attention.evolution import Evolution
    from evo_attention.data import get_data
    drive = tmp_path / 'drive'
    form = EvolutionForm('smoke', data='induction', run_dir=drive / 'smoke-seed42', remember=drive / 'last-run.json', **TINY)
    form.run_dir.value = str(drive / 'my-search')            # the user types another folder, then presses Start
    assert form.prepare()
    cfg = form.config()
    def disconnect(event, evo, **kw):
        if event == 'evaluated' and len(evo.records) == 3: raise KeyboardInterrupt   # the VM goes away
    with pytest.raises(KeyboardInterrupt):
        Evolution(cfg, data=get_data('induction', cfg.vocab_size, cfg.max_seq_len), search_space=form.search_space(),
                  run_dir=drive / 'my-search', progress=False, callback=disconnect).run()
    # Run all, with the notebook's settings naming other data: the chosen folder resumes, on its own data
    cells = _execute(tmp_path / 'resumed.ipynb', tmp_path, PRESET='smoke', DATA='associative_recall', RUN_ROOT=str(drive), OVERRIDES=TINY)
    assert f"run folder: {drive / 'my-search'}" in _text(_cell(cells, 'pick_run_dir'))
    out = _text(_cell(cells, 'form.run()'))
    assert 'Resuming the search' in out and ' on induction ' in out and 'Done: best' in out, out
    summary = json.loads((drive / 'my-search' / 'summary.json').read_text())
    assert summary['finished'] and summary['data'] == 'induction'
    hist = [json.loads(l) for l in (drive / 'my-search' / 'history.jsonl').read_text().splitlines()]
    assert len({(r['gene'], r.get('replicate', 0)) for r in hist}) == len(hist)       # nothing trained twice
    assert not (drive / 'smoke-seed42').exists()

def test_notebook_keeps_its_gpu_accelerator_metadata_through_nbdev_clean(tmp_path):
    nbdev_clean = shutil.which('nbdev_clean', path=str(Path(sys.executable).parent)) or shutil.which('nbdev_clean')
    if nbdev_clean is None: pytest.skip('nbdev is not installed')
    nb = json.loads(NB.read_text())
    assert nb['metadata']['accelerator'] == 'GPU' and nb['metadata']['colab']['gpuType'] == 'T4'
    nb['metadata']['language_info'] = {'name': 'python'}        # what a saved notebook gains, and cleaning removes
    copy = tmp_path / 'colab.ipynb'; copy.write_text(json.dumps(nb))
    subprocess.run([nbdev_clean, '--fname', str(copy)], cwd=ROOT, check=True, capture_output=True)
    meta = json.loads(copy.read_text())['metadata']
    assert 'language_info' not in meta                           # nbdev_clean did run
    assert meta['accelerator'] == 'GPU' and meta['colab']['gpuType'] == 'T4'

def test_install_cell_pins_the_version_in_settings_ini():
    cfg = configparser.ConfigParser(); cfg.read(ROOT / 'settings.ini')
    src = ''.join(_cell(json.loads(NB.read_text())['cells'], 'pip')['source'])
    pinned = re.search(r"^VERSION = '([^']+)'", src, re.M)
    assert pinned and pinned.group(1) == cfg['DEFAULT']['version'], (pinned and pinned.group(1), cfg['DEFAULT']['version'])
    assert "evo-attention@v{VERSION}" in src
