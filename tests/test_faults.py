"""What survives what: each way a run folder is mistreated (a crash, a Drive hiccup, a second tab, a hostile
file), reproduced as a user meets it, and checked on what the user sees: the exit status, the one-line
message (never a traceback) and the records on disk before and after (nothing lost, nothing duplicated,
every line parses)."""
import errno, json, os, re, signal, subprocess, time
from pathlib import Path
import pytest
from conftest import CLI, TINY, cli
from evo_attention.cli import main

# a search of five short trainings (three, then two children), in a few seconds
SEARCH = [*TINY, '--steps', '5', '--population', '3', '--generations', '2', '--elites', '1', '--seed', '3',
          '--no-baseline', '--finalists', '0', '--no-ablations']
TIMING = ('seconds', 'train_seconds', 'tokens_per_sec')

def run(capsys, *argv) -> tuple[int, str]:
    "The command run in this process: (exit status, what it printed on stderr); stdout is in `run.out`."
    rc = main([str(a) for a in argv])
    said = capsys.readouterr()
    assert 'Traceback' not in said.err
    run.out = said.out
    return rc, said.err

def records(out: Path) -> list[dict]:
    "The history, checking that every line is one record and that no training is recorded twice."
    lines = (out / 'history.jsonl').read_text().split('\n')
    assert lines[-1] == ''                                              # ends with its newline
    recs = [json.loads(l) for l in lines[:-1]]                          # every line parses: nothing glued, nothing blank
    keys = [(r.get('role'), r['gene'], r.get('replicate', 0)) for r in recs]
    assert len(keys) == len(set(keys)), 'a training recorded twice'
    return recs

def same(a: list[dict], b: list[dict]):
    strip = lambda rs: [{k: v for k, v in r.items() if k not in TIMING} for r in rs]
    assert strip(a) == strip(b)

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "The uninterrupted search every repaired one must end as."
    out = tmp_path_factory.mktemp('ref') / 'run'
    assert main(['evolve', *SEARCH, '--out', str(out)]) == 0
    return out

def fresh(tmp_path, generations=2) -> Path:
    out = tmp_path / 'run'
    assert main(['evolve', *SEARCH, '--generations', str(generations), '--out', str(out)]) == 0
    return out

# -- the data changed under the same name --------------------------------------------------------------------------
def test_changed_data_is_refused_and_old_folders_adopted(tmp_path, capsys):
    d = tmp_path / 'data'; d.mkdir()
    text = lambda seed: '\n'.join(' '.join(f'w{(i * seed + j) % 40}' for j in range(12)) for i in range(300)) + '\n'
    (d / 'train.txt').write_text(text(7)); (d / 'valid.txt').write_text(text(5))
    files = ['--train-file', d / 'train.txt', '--valid-file', d / 'valid.txt']
    base = [a for a in SEARCH if a not in ('--data', 'induction')]
    out = tmp_path / 'run'
    rc, _ = run(capsys, 'evolve', *base, *files, '--generations', '1', '--out', out)
    assert rc == 0 and 'sha256' in json.loads((out / 'config.json').read_text())['data_identity']
    before = records(out)
    (d / 'train.txt').write_text(text(11))                              # edited under the same name
    rc, err = run(capsys, 'evolve', *base, *files, '--out', out, '--resume')
    assert rc == 2 and 'other data' in err and str(d / 'train.txt') in err and 'sha256' in err
    assert records(out) == before
    # a folder from before data identities: adopted, with a warning, and its identity stored
    (d / 'train.txt').write_text(text(7))
    cfg = json.loads((out / 'config.json').read_text()); del cfg['data_identity']
    (out / 'config.json').write_text(json.dumps(cfg))
    rc, err = run(capsys, 'evolve', *base, *files, '--out', out, '--resume')
    assert rc == 0 and 'no data identity' in err
    assert 'data_identity' in json.loads((out / 'config.json').read_text())
    assert records(out)[:len(before)] == before and len(records(out)) == len(before) + 2

# -- history.jsonl lost its final newline; a line that is not a record -----------------------------------------------
def test_lost_final_newline_then_resume(tmp_path, capsys, reference):
    out = fresh(tmp_path, generations=1)
    h = out / 'history.jsonl'; h.write_text(h.read_text().rstrip('\n'))     # a sync cut the newline
    rc, _ = run(capsys, 'evolve', *SEARCH, '--out', out, '--resume')
    assert rc == 0
    same(records(out), records(reference))

def test_torn_last_line_is_dropped_and_trained_again(tmp_path, capsys, reference):
    out = fresh(tmp_path, generations=1)
    h = out / 'history.jsonl'; h.write_text(h.read_text() + '{"role": "population", "gene": "dot|sof')
    rc, err = run(capsys, 'evolve', *SEARCH, '--out', out, '--resume')
    assert rc == 0 and 'dropping a cut-off last line' in err
    same(records(out), records(reference))

def test_a_line_that_is_not_a_record(tmp_path, capsys):
    out = fresh(tmp_path, generations=1)
    h = out / 'history.jsonl'; h.write_text(h.read_text() + '42\n')
    before = h.read_bytes()
    rc, err = run(capsys, 'evolve', *SEARCH, '--out', out, '--resume')
    assert rc == 2 and f"{h} line 4 is not a training record: '42'. Delete that line" in err
    assert h.read_bytes() == before                                     # refused: nothing changed
    rc, err = run(capsys, 'report', out)
    assert rc == 0 and "line 4 is not a training record: '42'; left out" in err and '3 trainings' in run.out

# -- a training diverges ---------------------------------------------------------------------------------------------
def test_divergence_is_recorded_and_the_search_goes_on(tmp_path, capsys):
    out = tmp_path / 'run'
    args = ['evolve', *SEARCH, '--lr', '1e30', '--normalization', 'sparsemax,entmax15', '--out', out]
    rc, _ = run(capsys, *args)
    assert rc == 0
    recs = records(out)
    assert len(recs) == 5 and all(r['status'] == 'diverged' and isinstance(r['diverged_at'], int) for r in recs)
    rc, _ = run(capsys, *args, '--generations', '3', '--resume')       # resumes, and goes on
    assert rc == 0 and len(records(out)) == 7
    rc, err = run(capsys, 'report', out)
    assert rc == 0 and '7 trainings (7 diverged)' in run.out

def test_a_huge_finite_loss_is_diverged_and_ranked_last(tmp_path):
    from evo_attention.config import preset_config
    from evo_attention.data import synthetic_task
    from evo_attention.evolution import Evolution
    from evo_attention.reporting import report_text
    from evo_attention.train import train_and_evaluate
    def evaluate(gene, config, data, **kw):
        m = train_and_evaluate(gene, config, data, **kw)
        if gene.normalization == 'sparsemax': m = dict(m, val_loss=400.0, perplexity=float('inf'))   # exp(400) overflows
        return m
    cfg = preset_config('smoke', device='cpu', population_size=4, n_generations=1, train_steps=5, max_seq_len=16,
                        d_model=16, n_heads=2, batch_size=8, vocab_size=16, baseline=False, finalists=0, ablations=False)
    evo = Evolution(cfg, data=synthetic_task('induction', 16, 16, n_train=64, n_valid=16), run_dir=tmp_path / 'run',
                    progress=False, evaluate=evaluate)
    pop = evo.run()
    recs = records(tmp_path / 'run')
    bad = [r for r in recs if r['gene'].split('|')[1] == 'sparsemax']
    assert bad and all(r['status'] == 'diverged' and r['diverged_at'] == 5 for r in bad)
    assert [i.status for i in pop][-len(bad):] == ['diverged'] * len(bad)       # ranked last
    assert f"({len(bad)} diverged)" in report_text(tmp_path / 'run')

def test_sparsemax_and_entmax_on_nan_and_inf():
    import torch
    from evo_attention.sparsemax import sparsemax
    from evo_attention.normalizations import entmax15
    x = torch.tensor([[1., float('nan'), 0.], [float('inf'), 1., 0.], [0.3, 0.1, 0.]])
    for f in (sparsemax, entmax15):
        p = f(x)
        assert p[:2].isnan().any(dim=-1).all() and torch.allclose(p[2].sum(), torch.tensor(1.))

# -- two searches in one folder --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_second_process_is_refused_and_a_dead_holder_taken_over(tmp_path):
    out, longer = tmp_path / 'run', [*SEARCH, '--steps', '5000']   # minutes: still running when the second one starts
    start = lambda: subprocess.Popen([*CLI, 'evolve', *longer, '--out', str(out), *(['--resume'] if (out / 'state.json').exists() else [])],
                                     stderr=subprocess.PIPE, text=True)
    def holds(p):
        "Wait until process `p` holds the folder's lock (lock.json names it)."
        t0 = time.time()
        while True:
            try:
                if json.loads((out / 'lock.json').read_text())['pid'] == p.pid and (out / 'state.json').exists(): return
            except (OSError, ValueError): pass
            assert time.time() - t0 < 300 and p.poll() is None; time.sleep(0.05)
    first = start(); holds(first)
    second = cli('evolve', *longer, '--out', out, '--resume')           # a second tab
    assert first.poll() is None and second.returncode == 2 and 'Traceback' not in second.stderr
    assert f'is in use by process {first.pid} on' in second.stderr and 'One search per folder' in second.stderr
    first.send_signal(signal.SIGKILL); first.wait()
    third = start(); holds(third)                                       # the lock of a killed process is taken over
    third.send_signal(signal.SIGKILL); third.wait()
    if (out / 'history.jsonl').exists(): records(out)                   # whatever finished: whole lines, none twice

def fresh_cli(tmp_path) -> Path:
    out = tmp_path / 'run'
    r = cli('evolve', *SEARCH, '--generations', '1', '--out', out)
    assert r.returncode == 0, r.stderr
    return out

# -- hostile experiment files ----------------------------------------------------------------------------------------
def hostile(capsys, path: Path) -> str:
    rc, err = run(capsys, 'evolve', '--spec', path, '--device', 'cpu', '--out', path.parent / 'never')
    assert rc == 2 and str(path) in err and not (path.parent / 'never').exists()
    return err

def test_yaml_alias_bomb(tmp_path, capsys):
    p = tmp_path / 'bomb.yaml'
    p.write_text('a: &a ["x","x","x","x","x","x","x","x","x"]\n' + ''.join(
        f'{c}: &{c} [*{q},*{q},*{q},*{q},*{q},*{q},*{q},*{q},*{q}]\n' for q, c in zip('abcdefgh', 'bcdefghi')))
    assert 'aliases (*name) are expanded, more than 10,000' in hostile(capsys, p)

def test_a_10_mb_experiment_file(tmp_path, capsys):
    p = tmp_path / 'big.yaml'; p.write_text('preset: smoke\nconfig:\n' + '  # padding\n' * 1_000_000)
    assert 'more than an experiment file may (262,144)' in hostile(capsys, p)

def test_a_binary_experiment_file(tmp_path, capsys):
    p = tmp_path / 'model.yaml'; p.write_bytes(os.urandom(4096))
    assert 'not UTF-8 text (a binary file?)' in hostile(capsys, p)

# -- state.json damaged: the advice, followed, loses and repeats nothing ---------------------------------------------
def test_damaged_state_advice_works(tmp_path, capsys, reference):
    out = fresh(tmp_path, generations=1)
    s = out / 'state.json'; s.write_text(s.read_text().replace('"generation": 0', '"generation": 1'))
    before = records(out)
    rc, err = run(capsys, 'evolve', *SEARCH, '--out', out, '--resume')
    assert rc == 2 and 'checksum mismatch' in err and 'delete state.json and resume' in err
    assert records(out) == before
    s.unlink()                                                          # the advice
    rc, err = run(capsys, 'evolve', *SEARCH, '--out', out, '--resume')
    assert rc == 0 and 'replays from generation 0' in err
    same(records(out), records(reference))

def test_damaged_populations_rebuilt_from_history(tmp_path, capsys, reference):
    out = fresh(tmp_path, generations=1)
    (out / 'populations.json').write_text('[{"generation": 0, "popul')
    rc, err = run(capsys, 'evolve', *SEARCH, '--out', out, '--resume')
    assert rc == 0 and 'populations.json' in err and 'rebuilt from history.jsonl' in err
    same(records(out), records(reference))
    assert json.loads((out / 'populations.json').read_text()) == json.loads((reference / 'populations.json').read_text())

# -- report on a search that has just started ------------------------------------------------------------------------
def test_report_before_any_evaluation(tmp_path, capsys):
    out = fresh(tmp_path, generations=1)
    (out / 'history.jsonl').write_text('')                                # as a search is just after its start
    for f in ('populations.json', 'summary.json', 'lineage.json'): (out / f).unlink()
    rc, _ = run(capsys, 'report', out)
    assert rc == 0 and 'No evaluations yet: the folder holds config.json, experiment.yaml' in run.out
    (out / 'history.jsonl').unlink()
    rc, _ = run(capsys, 'report', out)
    assert rc == 0 and '0 trainings' in run.out and 'No evaluations yet' in run.out

# -- a folder that cannot be written ---------------------------------------------------------------------------------
@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only folders')
def test_read_only_folder_is_refused_before_training(tmp_path, capsys):
    out = fresh(tmp_path, generations=1)
    before = records(out)
    os.chmod(out, 0o500)
    try: rc, err = run(capsys, 'evolve', *SEARCH, '--out', out, '--resume')
    finally: os.chmod(out, 0o700)
    assert rc == 2 and f'cannot write to {out}' in err and records(out) == before

def test_unwritable_folder_is_refused_before_training(tmp_path, capsys, monkeypatch):
    "The same as a user without write access sees it, for any user (root included): the folder refuses new files."
    import tempfile
    out = fresh(tmp_path, generations=1)
    before = records(out)
    def refuse(*a, dir=None, **kw): raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
    monkeypatch.setattr(tempfile, 'mkstemp', refuse)
    rc, err = run(capsys, 'evolve', *SEARCH, '--out', out, '--resume')
    assert rc == 2 and f'cannot write to {out} (Permission denied)' in err and records(out) == before

class FullDisk:
    "A file on a full disk: it opens, but nothing can be written to it."
    def __init__(self, f): self.f = f
    def __enter__(self): return self
    def __exit__(self, *exc): self.f.close()
    def __getattr__(self, name): return getattr(self.f, name)
    def write(self, data): raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

def test_disk_full_after_a_training_keeps_the_records(tmp_path, capsys, monkeypatch):
    from evo_attention import runs
    out = fresh(tmp_path, generations=1)
    before = records(out)
    full = lambda p, mode='r', *a, **kw: (FullDisk(open(p, mode, *a, **kw)) if str(p).endswith('history.jsonl') and 'a' in mode
                                          else open(p, mode, *a, **kw))
    monkeypatch.setattr(runs, 'open', full, raising=False)          # the disk fills up: the next record does not fit
    rc, err = run(capsys, 'evolve', *SEARCH, '--out', out, '--resume')
    assert rc == 2 and f"cannot write {out / 'history.jsonl'} (No space left on device)" in err and 'is kept' in err
    assert records(out) == before

# -- Ctrl-C ----------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ctrl_c_says_how_to_resume(tmp_path):
    out, longer = tmp_path / 'run', [*SEARCH, '--steps', '300']      # the interrupt lands mid-search
    p = subprocess.Popen([*CLI, 'evolve', *longer, '--out', str(out)], stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (out / 'history.jsonl').exists() or not (out / 'history.jsonl').read_text():
        assert time.time() - t0 < 300 and p.poll() is None; time.sleep(0.01)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=120)[1]
    assert p.returncode == 130 and 'Traceback' not in err, err
    line = [l for l in err.splitlines() if 'interrupted' in l]
    assert len(line) == 1 and 'Resume with: evo-attention evolve' in line[0] and line[0].endswith('--resume')
    n = len(records(out))
    again = line[0].split('Resume with: evo-attention ')[1].split()
    r = subprocess.run([*CLI, *again], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert len(records(out)) == 5 >= n                                  # the rest trained, nothing twice

# -- settings refused after the folder was made ----------------------------------------------------------------------
def test_settings_refused_leave_nothing_that_blocks(tmp_path, capsys):
    out = tmp_path / 'run'
    rc, err = run(capsys, 'evolve', *SEARCH, '--batch-size', '10000000', '--out', out)
    assert rc == 2 and 'needs an estimated' in err
    assert not (out / 'state.json').exists() and not (out / 'history.jsonl').exists()
    rc, _ = run(capsys, 'evolve', *SEARCH, '--out', out)                  # the same --out, valid settings
    assert rc == 0 and len(records(out)) == 5

# -- bad --out, --population 2 ---------------------------------------------------------------------------------------
def test_out_that_cannot_be_a_folder(tmp_path, capsys):
    f = tmp_path / 'file'; f.write_text('x')
    rc, err = run(capsys, 'evolve', *SEARCH, '--out', f)
    assert rc == 2 and err == f"evo-attention: error: --out {f} is a file, not a folder: choose a folder\n"
    rc, err = run(capsys, 'evolve', *SEARCH, '--out', tmp_path / ('x' * 4000))
    assert rc == 2 and 'the path is too long' in err and len(err) < 400

def test_population_2_names_the_flags(tmp_path, capsys):
    rc, err = run(capsys, 'evolve', *TINY, '--steps', '5', '--population', '2', '--generations', '1', '--no-baseline',
                  '--finalists', '0', '--out', tmp_path / 'a')
    assert rc == 0 and 'elite_size set to 1' in err and 'elite_size is --elites' in err
    rc, err = run(capsys, 'evolve', *TINY, '--population', '2', '--elites', '2', '--out', tmp_path / 'b')
    assert rc == 2 and 'elite_size is --elites' in err and 'population_size is --population' in err

# -- inherited weights damaged ---------------------------------------------------------------------------------------
def test_damaged_inherited_weights_are_reported(tmp_path, capsys):
    out = tmp_path / 'run'
    args = ['evolve', *SEARCH, '--inherit-weights', '--out', out]
    rc, _ = run(capsys, *args, '--generations', '1')
    assert rc == 0
    for f in (out / 'weights').glob('*.pt'): f.write_bytes(f.read_bytes()[:-64])    # truncated by a sync
    rc, err = run(capsys, *args, '--resume')
    assert rc == 0 and 'does not match its checksum' in err
    children = [r for r in records(out) if r['generation'] == 1]
    assert children and all(r['inherit_damaged'] and r['inherited_tensors'] == 0 for r in children)

# -- the HTML report, offline ----------------------------------------------------------------------------------------
def test_html_report_opens_offline(tmp_path, capsys, reference):
    rc, _ = run(capsys, 'report', reference, '--html', tmp_path / 'r.html')
    doc = (tmp_path / 'r.html').read_text()
    assert rc == 0 and '<script' not in doc and '<svg ' in doc
    assert set(re.findall(r'https?://[^\s\'"<>]+', doc)) == {'http://www.w3.org/2000/svg'}   # a namespace, not a fetch
