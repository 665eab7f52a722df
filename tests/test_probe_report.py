"""`evo-attention probes --run RUN`: a run's baseline and finalists on the probes, kept in
RUN/probes.json (resumable), and the probe profile in the report."""
import base64, contextlib, io, json, re
from pathlib import Path
import pytest
from evo_attention.analysis import simulated_evaluate
from evo_attention.cli import main
from evo_attention.config import preset_config
from evo_attention.data import synthetic_task
from evo_attention.evolution import Evolution
from evo_attention.gene import SearchSpace
from evo_attention.probes import run_probes
from evo_attention.reporting import report_html, report_text

CFG = preset_config('smoke', device='cpu', population_size=4, n_generations=2, elite_size=1,
                    d_model=16, max_seq_len=16, train_steps=10, batch_size=8)   # 2 finalists
FLAGS = ['--probes', 'in_context_recall,selective_copying', '--steps', '8', '--device', 'cpu']

def search(folder: Path, stop_after: int|None = None) -> Path:
    "A smoke-sized search with a finalist stage (simulated trainings); optionally interrupted."
    data = synthetic_task('induction', 16, 16, n_train=32, n_valid=8)
    fake, calls = simulated_evaluate({}), []
    def evaluate(*a, **kw):
        if stop_after is not None and len(calls) == stop_after: raise KeyboardInterrupt
        calls.append(1); return fake(*a, **kw)
    try: Evolution(CFG, data=data, search_space=SearchSpace.original(), run_dir=folder,
                   progress=False, evaluate=evaluate).run()
    except KeyboardInterrupt: pass
    return folder

def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()

@pytest.mark.slow
def test_probes_of_a_run_resume_and_show_in_the_report(tmp_path, one_thread):
    run = search(tmp_path / 'run')
    genes = [g['gene'] for g in json.loads((run / 'finalists.json').read_text())['genes']]
    assert len(genes) == 3                                        # the baseline and 2 finalists
    assert 'not measured; `evo-attention probes --run' in report_text(run, markdown=True)
    rc, out, err = run_cli('probes', '--run', run, *FLAGS)
    assert rc == 0, err
    saved = json.loads((run / 'probes.json').read_text())
    assert {(r['gene'], r['probe']) for r in saved['rows']} == {
        (g, p) for g in genes for p in ('in_context_recall', 'selective_copying')}
    s = saved['settings']
    assert (s['d_model'], s['max_seq_len'], s['steps']) == (16, 16, 8)   # the run's model, --steps
    assert 'chance' in out and len(err.splitlines()) == 6           # one line per training
    rc, out2, err2 = run_cli('probes', '--run', run, *FLAGS)          # again: nothing to train
    assert rc == 0 and err2 == '' and out2 == out
    assert json.loads((run / 'probes.json').read_text()) == saved
    rc, _, err = run_cli('probes', '--run', run, *FLAGS, '--d-model', '32')
    assert rc == 2 and 'd_model 16 there, 32 now' in err
    md = report_text(run, markdown=True)
    assert '## Probe profile of the finalists' in md and '**Answer accuracy % on the probes**' in md
    assert '| chance |' in md and '*Plot: Probe profile (in the HTML report).*' in md
    doc = report_html(run, tmp_path / 'r.html').read_text(encoding='utf-8')
    m = re.search(r'<h2>Probe profile of the finalists</h2>.*?<img alt="Probe profile" '
                  r'src="data:image/png;base64,([^"]+)"', doc, re.S)
    assert m and base64.b64decode(m.group(1)).startswith(b'\x89PNG')

def test_an_interrupted_probe_call_resumes_without_training_again(tmp_path, one_thread):
    run = search(tmp_path / 'run')
    seen = []
    def stop(row):
        seen.append(row)
        if len(seen) == 2: raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        run_probes(run, ['compression'], steps=4, n_train=16, n_valid=8, on_result=stop)
    first = json.loads((run / 'probes.json').read_text())['rows']
    assert len(first) == 2                                          # kept as each training ended
    again = []
    rows = run_probes(run, ['compression'], steps=4, n_train=16, n_valid=8, on_result=again.append)
    assert len(again) == 1 and rows[:2] == first and len(rows) == 3

def test_probes_refuse_a_run_without_a_finished_finalist_stage(tmp_path):
    c = CFG
    n_search = 1 + c.population_size + (c.n_generations - 1) * (c.population_size - c.elite_size)
    run = search(tmp_path / 'run', stop_after=n_search + 1)        # the finalist stage begun
    rc, _, err = run_cli('probes', '--run', run, *FLAGS)
    assert rc == 2 and 'the finalist stage of' in err and 'is not complete' in err
    assert not (run / 'probes.json').exists()
    assert 'evo-attention probes --run' not in report_text(run)
    rc, _, err = run_cli('probes', '--run', tmp_path / 'nowhere', *FLAGS)
    assert rc == 2 and 'is not a run folder' in err
