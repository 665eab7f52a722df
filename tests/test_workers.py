"Several evaluations at once (worker processes) give exactly the history of one-by-one evaluation."
import json
from conftest import TINY, cli

TIMING = ('seconds', 'train_seconds', 'tokens_per_sec')

def _hist(path):
    return [{k: v for k, v in json.loads(l).items() if k not in TIMING} for l in (path / 'history.jsonl').read_text().splitlines()]

def test_workers_match_sequential(tmp_path):
    args = [*TINY, '--steps', '20', '--population', '4', '--generations', '2', '--elites', '1']
    assert cli('evolve', *args, '--out', tmp_path / 'one').returncode == 0
    r = cli('evolve', *args, '--workers', '2', '--out', tmp_path / 'two')
    assert r.returncode == 0, r.stderr
    assert _hist(tmp_path / 'two') == _hist(tmp_path / 'one')
