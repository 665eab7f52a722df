"The ladder of scales: a ladder stopped in the middle of a rung and run again ends with the same ladder.json as one never stopped; `evo-attention ladder` on a run folder."
import json, shutil
import pytest
from evo_attention.config import Config
from evo_attention.data import synthetic_task
from evo_attention.gene import SearchSpace
from evo_attention.evolution import Evolution
from evo_attention.ladder import Ladder, ladder_folder

TINY = Config(vocab_size=16, max_seq_len=16, d_model=16, n_heads=2, n_layers=1, batch_size=8, train_steps=10,
              learning_rate=3e-3, log_interval=5, population_size=3, n_generations=1, elite_size=1, finalists=2,
              final_replicates=2, device='cpu', threads=1)
SPACE = SearchSpace(similarity=['dot', 'cosine'], normalization=['softmax', 'relu_norm'], gating=['none', 'output_gate'],
                    temperature=['fixed'], use_bias=(True,), dropout=(0.1, 0.1))
RUNGS = 'steps=2,genes=2; steps=2,width=2,genes=1'
TIMES = ('seconds', 'train_seconds', 'tokens_per_sec')

def data(): return synthetic_task('induction', 16, vocab_size=16, n_train=64, n_valid=32)

@pytest.fixture(scope='module')
def searched(tmp_path_factory):
    "A finished search with its finalist stage (no ladder yet)."
    out = tmp_path_factory.mktemp('ladder') / 'run'
    Evolution(TINY, data=data(), search_space=SPACE, run_dir=out, progress=False).run()
    return out

def same(a: dict, b: dict):
    "Two ladder.json files equal but for the times the trainings took."
    strip = lambda l: {**l, 'records': [{k: v for k, v in r.items() if k not in TIMES} for r in l['records']]}
    sa, sb = strip(a), strip(b)
    for x, y in zip(sa["records"], sb["records"]):
        assert x == y, {k: (x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)}
    assert sa == sb

class Stop(Exception): pass

def stop_after(n):
    seen = []
    def hook(record):
        seen.append(record)
        if len(seen) == n: raise Stop
    return hook

def test_stopped_mid_rung_then_resumed_matches_uninterrupted(searched, tmp_path):
    whole, cut = tmp_path / 'whole', tmp_path / 'cut'
    shutil.copytree(searched, whole); shutil.copytree(searched, cut)
    quiet = lambda s: None
    ref = Ladder(whole, TINY, data(), rungs=RUNGS, transfer='associative_recall', say=quiet).run()
    for n in (4, 3):                                    # the 4th training of rung 1 (of 6); then one of rung 2
        with pytest.raises(Stop):
            Ladder(cut, TINY, data(), rungs=RUNGS, transfer='associative_recall', say=quiet, on_record=stop_after(n)).run()
        kept = json.loads((cut / 'ladder.json').read_text())
        assert not kept['complete']
    assert len(kept['records']) == 7 and kept['stages'][-1]['name'] == 'rung 2'     # 6 of rung 1, 1 of rung 2
    again = Ladder(cut, TINY, data(), rungs=RUNGS, transfer='associative_recall', say=quiet).run()
    same(again, ref)
    same(json.loads((cut / 'ladder.json').read_text()), json.loads((whole / 'ladder.json').read_text()))
    assert ref['complete'] and len(ref['records']) == 6 + 4 + 6
    assert [s['name'] for s in ref['stages']] == ['finalists', 'rung 1', 'rung 2', 'transfer: associative_recall']

def test_cli_ladder_on_a_run_folder(searched, tmp_path, capsys):
    from evo_attention.cli import main
    run = tmp_path / 'run'
    shutil.copytree(searched, run)
    assert main(['ladder', str(run), '--rungs', 'steps=2,genes=1', '--device', 'cpu', '--no-progress']) == 0
    out = capsys.readouterr().out
    assert 'rung 1 (steps ×2; data induction): 2 genes × 2 replicates, 4 trainings to go of 20 steps' in out
    lad = json.loads((run / 'ladder.json').read_text())
    assert lad['complete'] and lad['rungs'] == 'steps=2,genes=1' and len(lad['records']) == 4
    assert main(['ladder', str(run), '--rungs', 'steps=2,genes=1; width=0', '--device', 'cpu']) == 2
    assert "ladder rung 2 ('width=0'): width must be a positive number" in capsys.readouterr().err
