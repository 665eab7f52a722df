"A search killed with SIGKILL at any moment and resumed ends exactly as one that was never interrupted."
import json, os, random, signal, subprocess, time
from pathlib import Path
from conftest import CLI, TINY, cli

SEARCH = [*TINY, '--steps', '100', '--population', '4', '--generations', '3', '--elites', '1', '--seed', '7',
          '--finalists', '1', '--final-replicates', '2', '--no-ablations']   # kills may also land in the finalist stage
TIMING = ('seconds', 'train_seconds', 'tokens_per_sec', 'total_seconds')

def lines(out: Path) -> int:
    p = out / 'history.jsonl'
    return p.read_text().count('\n') if p.exists() else 0

def start(out: Path):
    resume = ['--resume'] if (out / 'state.json').exists() else []
    return subprocess.Popen(CLI + ['evolve', *SEARCH, '--out', str(out), *resume], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

def kill_when(out: Path, cond, limit=120) -> bool:
    "Start (or resume) the search and SIGKILL it once cond() holds; True if it was killed."
    p, t0 = start(out), time.time()
    while p.poll() is None and time.time() - t0 < limit:
        if cond(): p.send_signal(signal.SIGKILL); p.wait(); return True
        time.sleep(0.005)
    p.wait()
    return False

def strip(d: dict) -> dict: return {k: v for k, v in d.items() if k not in TIMING}

def outcome(out: Path):
    hist = [strip(json.loads(l)) for l in (out / 'history.jsonl').read_text().splitlines()]
    summary = strip(json.loads((out / 'summary.json').read_text()))
    pops = json.loads((out / 'populations.json').read_text())
    return hist, summary, pops

def test_sigkill_anywhere_then_resume_matches_uninterrupted(tmp_path):
    ref = tmp_path / 'ref'
    r = cli('evolve', *SEARCH, '--out', ref)
    assert r.returncode == 0, r.stderr
    expected = outcome(ref)
    assert expected[1]['finished'] and expected[1]['evaluations'] == len(expected[0]) >= 5

    out, rng, kills = tmp_path / 'killed', random.Random(0), 0
    # kills right after a given number of finished trainings (between the history append and the state write) ...
    for n in (1, 3):
        kills += kill_when(out, lambda: lines(out) >= n)
    # ... and at random moments (mid-training, mid-write, during start-up)
    for _ in range(3):
        t_kill = time.time() + rng.uniform(1.5, 6.0)
        kills += kill_when(out, lambda: time.time() >= t_kill)
    assert kills >= 3
    p = start(out); _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err.decode()
    assert outcome(out) == expected

def test_resume_needs_flag_and_matching_settings(tmp_path):
    out = tmp_path / 'run'
    assert cli('evolve', *SEARCH, '--generations', '1', '--out', out).returncode == 0
    r = cli('evolve', *SEARCH, '--generations', '1', '--out', out)
    assert r.returncode == 2 and 'add --resume' in r.stderr
    r = cli('evolve', *SEARCH, '--generations', '1', '--steps', '101', '--out', out, '--resume')
    assert r.returncode == 2 and 'train_steps: saved 100 vs now 101' in r.stderr
    r = cli('evolve', *SEARCH, '--out', tmp_path / 'empty', '--resume')
    assert r.returncode == 2 and 'holds no search to resume' in r.stderr

def test_damaged_state_is_reported(tmp_path):
    out = tmp_path / 'run'
    assert cli('evolve', *SEARCH, '--generations', '1', '--out', out).returncode == 0
    s = (out / 'state.json').read_text()
    (out / 'state.json').write_text(s.replace('"generation": 0', '"generation": 1'))
    r = cli('evolve', *SEARCH, '--generations', '1', '--out', out, '--resume')
    assert r.returncode == 2 and 'checksum mismatch' in r.stderr
