"Several evaluations at once (worker processes) record exactly the trainings of one-by-one evaluation (in finishing order)."
import json
from conftest import TINY, cli

TIMING = ('seconds', 'train_seconds', 'tokens_per_sec')

def _hist(path):
    rows = [{k: v for k, v in json.loads(l).items() if k not in TIMING} for l in (path / 'history.jsonl').read_text().splitlines()]
    return sorted(rows, key=lambda h: (h['generation'], h['role'], h['gene'], h.get('replicate', 0)))

def test_workers_match_sequential(tmp_path):
    # one torch thread per training both times: the same arithmetic, and 2 workers fit the 2 cores
    args = [*TINY, '--steps', '20', '--population', '4', '--generations', '2', '--elites', '1',
            '--threads', '1']
    assert cli('evolve', *args, '--out', tmp_path / 'one').returncode == 0
    r = cli('evolve', *args, '--workers', '2', '--out', tmp_path / 'two')
    assert r.returncode == 0, r.stderr
    assert _hist(tmp_path / 'two') == _hist(tmp_path / 'one')


def _first_gene(config):
    "The first individual the search samples (the search's rng is seeded with config.seed)."
    import random
    from evo_attention import SearchSpace
    return SearchSpace().sample(random.Random(config.seed)).id

def _fails_for_first_gene(gene, config, data, **kw):
    "An evaluation that breaks for one gene and trains the others normally (module level: workers import it)."
    from evo_attention import train_and_evaluate
    if gene.id == _first_gene(config): raise RuntimeError('planted failure')
    return train_and_evaluate(gene, config, data, **kw)

def test_workers_keep_finished_trainings_when_one_fails(tmp_path):
    "With workers, a failing training loses only itself: the others are in the history, and a resume trains just it."
    import pytest
    from evo_attention import Config, Evolution, synthetic_task
    from evo_attention.runs import RunFolder
    data = synthetic_task('induction', 16, vocab_size=16)
    cfg = Config(device='cpu', vocab_size=16, max_seq_len=16, d_model=16, n_heads=2, batch_size=8, train_steps=10,
                 log_interval=5, population_size=4, n_generations=1, elite_size=1, baseline=False, workers=2, finalists=0,
                 threads=1)
    run = tmp_path / 'run'
    with pytest.raises(RuntimeError, match='planted failure'):
        Evolution(cfg, data=data, run_dir=run, progress=False, evaluate=_fails_for_first_gene).run()
    genes = [json.loads(l)['gene'] for l in (run / 'history.jsonl').read_text().splitlines()]
    planned = {p['gene'] for p in RunFolder(run, create=False).load_state()['population']}
    assert _first_gene(cfg) in planned and _first_gene(cfg) not in genes
    assert set(genes) == planned - {_first_gene(cfg)}                   # every other training was kept
    evo = Evolution(cfg, data=data, run_dir=run, progress=False); evo.run()   # resume: trains only the failed one
    after = [json.loads(l)['gene'] for l in (run / 'history.jsonl').read_text().splitlines()]
    assert after[:len(genes)] == genes and after[len(genes):] == [_first_gene(cfg)]

def _oom_for_first_gene(gene, config, data, **kw):
    "Out of memory for one gene (as a CUDA OOM would say it), normal training for the others."
    import torch
    from evo_attention import train_and_evaluate
    if gene.id == _first_gene(config): raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 20.00 GiB')
    return train_and_evaluate(gene, config, data, **kw)

def test_workers_report_progress_and_record_out_of_memory(tmp_path):
    "With workers the callback still sees each training start and its loss reads; an out-of-memory training is recorded as failed."
    from evo_attention import Config, Evolution, synthetic_task
    data = synthetic_task('induction', 16, vocab_size=16)
    cfg = Config(device='cpu', vocab_size=16, max_seq_len=16, d_model=16, n_heads=2, batch_size=8, train_steps=10,
                 log_interval=5, population_size=4, n_generations=1, elite_size=1, baseline=False, workers=2, finalists=0,
                 threads=1)
    events = []
    evo = Evolution(cfg, data=data, run_dir=tmp_path / 'run', progress=False, evaluate=_oom_for_first_gene,
                    callback=lambda ev, evo, **kw: events.append((ev, kw.get('individual') and kw['individual'].gene.id, kw.get('step'))))
    pop = evo.run()
    trained = {g for ev, g, _ in events if ev == 'training'}
    assert trained == {i.gene.id for i in pop}
    steps = [(g, s) for ev, g, s in events if ev == 'step']
    assert {g for g, _ in steps} == trained - {_first_gene(cfg)} and {s for _, s in steps} == {1, 5, 10}
    rows = [json.loads(l) for l in (tmp_path / 'run' / 'history.jsonl').read_text().splitlines()]
    failed = [r for r in rows if r['status'] == 'failed']
    assert [r['gene'] for r in failed] == [_first_gene(cfg)] and 'out of memory' in failed[0]['error']
    assert len(rows) == 4 and pop[-1].gene.id == _first_gene(cfg)

def test_one_pool_for_the_whole_search(tmp_path, monkeypatch):
    "A search starts its worker processes once (not per generation, baseline or finalist replicate) and stops them at its end."
    from evo_attention import Config, Evolution, synthetic_task
    from evo_attention import executors
    starts, closes = [], []
    start, close = executors._start_pool, executors._close_pool
    monkeypatch.setattr(executors, '_start_pool', lambda evo: starts.append(1) or start(evo))
    monkeypatch.setattr(executors, '_close_pool', lambda kept: closes.append(kept[0]) or close(kept))
    data = synthetic_task('induction', 16, vocab_size=16)
    cfg = Config(device='cpu', vocab_size=16, max_seq_len=16, d_model=16, n_heads=2, batch_size=8, train_steps=10,
                 log_interval=5, population_size=4, n_generations=2, elite_size=1, workers=2, finalists=2,
                 final_replicates=2, threads=1)
    evo = Evolution(cfg, data=data, run_dir=tmp_path / 'run', progress=False)
    evo.run()
    roles = {json.loads(l)['role'] for l in (tmp_path / 'run' / 'history.jsonl').read_text().splitlines()}
    assert {'population', 'baseline', 'finalist'} <= roles       # several batches of several kinds ...
    assert len(starts) == 1 and len(closes) == 1                 # ... through one pool
    assert closes[0]._shutdown_thread and not hasattr(evo, '_worker_pool')   # after the run: none kept
