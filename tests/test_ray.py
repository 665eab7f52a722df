"Searches on a local Ray instance (2 CPUs): the same history as a local search; lost workers retried once, then recorded as failed; resume across executors; cancellation."
import dataclasses, json, math, os, random, sys, time
from dataclasses import dataclass
from pathlib import Path
import pytest

ray = pytest.importorskip('ray')
from evo_attention import Config, Evolution, SearchSpace, synthetic_task, train_and_evaluate
from evo_attention import ray_executor
from evo_attention.executors import failed_result, is_out_of_memory

TIMING = ('seconds', 'train_seconds', 'tokens_per_sec')
CFG = Config(device='cpu', vocab_size=16, max_seq_len=16, d_model=16, n_heads=2, n_layers=1, batch_size=8, train_steps=40,
             log_interval=10, population_size=4, n_generations=2, elite_size=1, finalists=0)
RAY = dataclasses.replace(CFG, executor='ray')
DATA = synthetic_task('induction', 16, vocab_size=16, n_train=64, n_valid=8)

@pytest.fixture(scope='module', autouse=True)
def local_ray():
    "One local Ray instance with 2 CPUs for the whole module, stopped at the end."
    ray_executor.connect(num_cpus=2)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the workers cannot import this test module
    yield
    assert ray_executor.shutdown() and not ray.is_initialized()

def _hist(run):
    rows = [{k: v for k, v in json.loads(l).items() if k not in TIMING} for l in (run / 'history.jsonl').read_text().splitlines()]
    return sorted(rows, key=lambda h: (h['generation'], h['role'], h['gene'], h.get('replicate', 0)))

def _close(a, b):
    "Equal, floats to a relative 1e-6."
    if isinstance(a, float) and isinstance(b, float): return a == b or math.isclose(a, b, rel_tol=1e-6) or (a != a and b != b)
    if isinstance(a, dict): return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)): return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(_close, a, b))
    return a == b

def _first_gene(config):
    "The first individual the search samples (its rng is seeded with config.seed)."
    return SearchSpace().sample(random.Random(config.seed)).id

@dataclass
class Where:
    "Trains as usual and leaves a file named after the process that trained."
    folder: Path
    def __call__(self, gene, config, data, **kw):
        self.folder.mkdir(exist_ok=True); (self.folder / str(os.getpid())).touch()
        return train_and_evaluate(gene, config, data, **kw)

@dataclass
class Dies:
    "Kills its own process (SIGKILL) on the first `times` attempts to train `gene`; trains normally otherwise."
    folder: Path
    gene: str
    times: int
    def __call__(self, gene, config, data, **kw):
        if gene.id == self.gene:
            self.folder.mkdir(exist_ok=True)
            n = len(list(self.folder.iterdir()))
            (self.folder / f"attempt-{n}").write_text(str(os.getpid()))
            if n < self.times: os.kill(os.getpid(), 9)
        return train_and_evaluate(gene, config, data, **kw)

class Stop(Exception): pass
def stop_after(n):
    "A callback that interrupts the search once `n` trainings are recorded."
    count = [0]
    def cb(event, evo, **kw):
        if event == 'evaluated':
            count[0] += 1
            if count[0] == n: raise Stop
    return cb

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "An uninterrupted local search's history."
    run = tmp_path_factory.mktemp('local') / 'run'
    where = Where(run.parent / 'pids')
    Evolution(CFG, data=DATA, run_dir=run, progress=False, evaluate=where).run()
    assert {p.name for p in where.folder.iterdir()} == {str(os.getpid())}
    return _hist(run)

def test_same_history_as_local(tmp_path, reference):
    where = Where(tmp_path / 'pids')
    evo = Evolution(RAY, data=DATA, run_dir=tmp_path / 'run', progress=False, evaluate=where)
    evo.run()
    pids = {p.name for p in where.folder.iterdir()}
    assert pids and str(os.getpid()) not in pids                       # trained in Ray workers, not here
    assert {h['generation'] for h in reference} == {0, 1} and _close(_hist(tmp_path / 'run'), reference)
    assert evo.summary()['finished']

def test_killed_worker_is_retried(tmp_path, reference):
    gene = _first_gene(CFG)
    dies = Dies(tmp_path / 'attempts', gene, times=1)
    Evolution(RAY, data=DATA, run_dir=tmp_path / 'run', progress=False, evaluate=dies).run()
    pids = [p.read_text() for p in sorted(dies.folder.iterdir())]
    assert len(pids) == 2 and pids[0] != pids[1]                       # killed once, then run again in another process
    assert _close(_hist(tmp_path / 'run'), reference)                  # complete, and the retried training is as undisturbed

def test_worker_killed_twice_is_recorded_failed(tmp_path, reference):
    gene = _first_gene(CFG)
    cfg = dataclasses.replace(RAY, n_generations=1, baseline=False)
    evo = Evolution(cfg, data=DATA, run_dir=tmp_path / 'run', progress=False, evaluate=Dies(tmp_path / 'attempts', gene, times=2))
    pop = evo.run()
    hist = _hist(tmp_path / 'run')
    failed = [h for h in hist if h['status'] == 'failed']
    assert [h['gene'] for h in failed] == [gene] and failed[0]['perplexity'] is None
    assert 'WorkerCrashedError' in failed[0]['error'] and '2 attempts' in failed[0]['error']
    others = [h for h in hist if h['gene'] != gene]
    assert len(others) == 3 and _close(others, [h for h in reference if h['generation'] == 0 and h['role'] == 'population' and h['gene'] != gene])
    assert pop[-1].gene.id == gene and evo.summary()['finished']      # the search went on; the failed gene ranks last

@pytest.mark.parametrize('first,then', [(CFG, RAY), (RAY, CFG)], ids=['local-then-ray', 'ray-then-local'])
def test_resume_across_executors(tmp_path, reference, first, then):
    run = tmp_path / 'run'
    with pytest.raises(Stop):
        Evolution(first, data=DATA, run_dir=run, progress=False, callback=stop_after(3)).run()
    assert len((run / 'history.jsonl').read_text().splitlines()) == 3
    Evolution(then, data=DATA, run_dir=run, progress=False).run()
    assert _close(_hist(run), reference)

@dataclass
class Slow:
    "Returns at once for `quick`; for other genes notes its pid and then trains for a long time."
    folder: Path
    quick: str
    def __call__(self, gene, config, data, **kw):
        if gene.id != self.quick:
            self.folder.mkdir(exist_ok=True); (self.folder / str(os.getpid())).touch()
            time.sleep(120)
        return train_and_evaluate(gene, dataclasses.replace(config, train_steps=2), data, **kw)

def test_interrupt_cancels_tasks_in_flight(tmp_path):
    genes = [SearchSpace().sample(random.Random(s)) for s in range(3)]
    jobs = [(type('Ind', (), {'gene': g})(), 0) for g in genes]
    evo = type('Evo', (), {'evaluate': Slow(tmp_path / 'pids', genes[0].id), 'config': CFG, 'data': DATA})()
    it = ray_executor.ray_jobs(evo, jobs, {}, failed=failed_result, is_oom=is_out_of_memory)
    ind, r, m = next(it)
    assert ind.gene == genes[0] and m['status'] == 'ok'
    deadline = time.time() + 60
    while not ((tmp_path / 'pids').exists() and any((tmp_path / 'pids').iterdir())) and time.time() < deadline: time.sleep(0.2)
    pids = [int(p.name) for p in (tmp_path / 'pids').iterdir()]
    with pytest.raises(KeyboardInterrupt): it.throw(KeyboardInterrupt())      # Ctrl-C while waiting for results
    def alive(pid):
        try: os.kill(pid, 0); return True
        except ProcessLookupError: return False
    while any(map(alive, pids)) and time.time() < deadline: time.sleep(0.2)
    assert pids and not any(map(alive, pids))                          # the running trainings were stopped

def test_evaluate_errors_propagate(tmp_path):
    "An exception raised by evaluate itself comes back as itself, after the trainings already running are recorded."
    cfg = dataclasses.replace(RAY, n_generations=1, baseline=False)
    with pytest.raises(ZeroDivisionError, match='planted'):
        Evolution(cfg, data=DATA, run_dir=tmp_path / 'run', progress=False, evaluate=Fails(_first_gene(CFG))).run()
    genes = [json.loads(l)['gene'] for l in (tmp_path / 'run' / 'history.jsonl').read_text().splitlines()]
    assert _first_gene(CFG) not in genes

@dataclass
class Fails:
    gene: str
    def __call__(self, gene, config, data, **kw):
        if gene.id == self.gene: raise ZeroDivisionError('planted')
        return train_and_evaluate(gene, config, data, **kw)
