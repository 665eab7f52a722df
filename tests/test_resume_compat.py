"Run folders written by earlier versions, and folders whose files disagree after a lost write, keep resuming."
import json, shutil
from pathlib import Path
import pytest
from evo_attention import Config, Evolution, synthetic_task

FIXTURES = Path(__file__).parent / 'fixtures'
TIMING = ('seconds', 'train_seconds', 'tokens_per_sec')
# measured by the loop since those folders were written: not in their records
MEASURED = ('grad_norm_mean', 'grad_norm_std', 'grad_norm_max', 'clipped_share', 'loss_tail_std', 'peak_memory')
TINY = dict(vocab_size=16, max_seq_len=16, d_model=16, n_heads=2, n_layers=1, batch_size=8, train_steps=8,
            log_interval=4, population_size=4, n_generations=3, elite_size=1, device='cpu')

def close(a, b, rel=1e-5) -> bool:
    "Equal records, floats to `rel` (the arithmetic's last bits depend on the CPU and its thread count)."
    if isinstance(a, float) or isinstance(b, float):
        return a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= rel * max(abs(a), abs(b)))
    if isinstance(a, dict): return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list): return isinstance(b, list) and len(a) == len(b) and all(map(close, a, b))
    return a == b

def data(): return synthetic_task('induction', max_seq_len=16, vocab_size=16, n_train=64, n_valid=8)
def history(folder: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(l).items() if k not in TIMING + MEASURED}
            for l in (folder / 'history.jsonl').read_text().splitlines()]

def test_folder_from_version_0_1_resumes_as_it_would_have(tmp_path):
    "A search interrupted under v0.1.0 (no paired seeds, space saved as None) finishes with the records v0.1.0 would have made."
    run = tmp_path / 'old'
    shutil.copytree(FIXTURES / 'run-v0.1.0', run)
    assert 'paired_seeds' not in json.loads((run / 'config.json').read_text())['config']
    # the user passes the same settings as then; the defaults added since (paired seeds) must not change the old search
    evo = Evolution(Config(**TINY, finalists=0), data=data(), run_dir=run, progress=False)
    evo.run()
    assert evo.config.paired_seeds is False
    expected = [{k: v for k, v in json.loads(l).items() if k not in TIMING}
                for l in (FIXTURES / 'run-v0.1.0-complete-history.jsonl').read_text().splitlines()]
    assert close(history(run), expected)
    assert 'paired_seeds' not in json.loads((run / 'config.json').read_text())['config']   # still an old folder
    # and a finalist stage may be added to the finished old search afterwards, leaving its records as they were
    evo = Evolution(Config(**TINY, finalists=2, final_replicates=2), data=data(), run_dir=run, progress=False)
    evo.run()
    h = history(run)
    assert close(h[:len(expected)], expected) and {r['role'] for r in h[len(expected):]} == {'finalist'}
    assert (run / 'finalists.json').exists()

class Stop(Exception): pass

def interrupted(run: Path, after: int, snapshot_at: int|None = None) -> bytes|None:
    "Run a search until `after` trainings are recorded; return state.json as it was after `snapshot_at` trainings."
    n, snap = [0], [None]
    def cb(event, evo, **kw):
        if event == 'evaluated':
            n[0] += 1
            if n[0] == snapshot_at: snap[0] = (run / 'state.json').read_bytes()
            if n[0] == after: raise Stop
    with pytest.raises(Stop): Evolution(Config(**TINY, finalists=0), data=data(), run_dir=run, progress=False, callback=cb).run()
    return snap[0]

def test_history_ahead_of_or_behind_state(tmp_path):
    "A lost write (Drive's cache, a reclaimed VM) leaves history.jsonl one training ahead of or behind state.json: resume copes."
    ref = tmp_path / 'ref'
    Evolution(Config(**TINY, finalists=0), data=data(), run_dir=ref, progress=False).run()
    expected = sorted(map(json.dumps, history(ref)))

    behind = tmp_path / 'behind'            # the last training's history line was lost: it is trained again
    interrupted(behind, after=7)
    lines = (behind / 'history.jsonl').read_text().splitlines(keepends=True)
    (behind / 'history.jsonl').write_text(''.join(lines[:-1]))
    Evolution(Config(**TINY, finalists=0), data=data(), run_dir=behind, progress=False).run()
    assert sorted(map(json.dumps, history(behind))) == expected

    ahead = tmp_path / 'ahead'              # state.json lost its last writes: the trainings in the history are reused
    old_state = interrupted(ahead, after=7, snapshot_at=4)
    (ahead / 'state.json').write_bytes(old_state)
    Evolution(Config(**TINY, finalists=0), data=data(), run_dir=ahead, progress=False).run()
    assert sorted(map(json.dumps, history(ahead))) == expected
