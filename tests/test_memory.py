"Memory: impossible configurations are refused before anything is allocated, with the setting named; the estimate is close to a measured peak."
import resource, time
import pytest
import torch
from evo_attention import memory
from evo_attention.config import Config, preset_config
from evo_attention.gene import SearchSpace
from evo_attention.memory import NotEnoughMemoryError, available_memory, check_memory, estimate_memory, measure_peak

GiB = 2 ** 30

def _maxrss() -> int: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def test_long_sequence_refused_before_allocating():
    cfg = Config(max_seq_len=100000, device='cpu')          # `evo-attention train ... --seq-len 100000`
    estimate_memory(Config(device='cpu'), SearchSpace())    # warm the option cache, so the RSS check sees the check alone
    rss = _maxrss()
    with pytest.raises(NotEnoughMemoryError) as e:
        check_memory(cfg, SearchSpace())
    grew = _maxrss() - rss             # refused before allocating: no T·T tensor was made
    msg = str(e.value)
    assert isinstance(e.value, ValueError)
    # the T·T attention maps: the additive similarity, computed in tiles, needs less than they do
    assert msg.startswith('max_seq_len=100000 with ') and 'attention needs an estimated' in msg and 'TiB' in msg
    assert 'this machine has' in msg and 'Lower max_seq_len or batch_size' in msg
    assert grew < 50 * 2**20, grew
    with pytest.raises(NotEnoughMemoryError, match='B·T·V logits'):   # without T·T maps, the logits are what is too big
        check_memory(cfg, 'dot|softmax|none|fixed|bias=true|dropout=0')

@pytest.mark.parametrize('preset', ['smoke', 'cpu', 'paper'])
def test_normal_configs_pass(preset):
    cfg = preset_config(preset, device='cpu')
    est = estimate_memory(cfg, SearchSpace())
    assert est['total'] < 4 * GiB, est['total']               # even the costliest gene of the paper's search space
    if available_memory('cpu') < 4 * GiB: pytest.skip('less than 4 GiB free here right now')
    assert check_memory(cfg, SearchSpace())['available'] >= est['total']

def test_estimate_close_to_measured_peak():
    cfg = Config(vocab_size=8000, max_seq_len=64, d_model=32, n_heads=2, batch_size=16, eval_batch_size=16, device='cpu')
    gene = 'dot|sparsemax|output_gate|learned'
    parent = torch.ones(300 * 2**20 // 4)                    # a large parent: its peak must not count as the child's
    measured, estimated = measure_peak(cfg, gene, 8000), estimate_memory(cfg, gene, 8000)['total']
    assert 0.5 < estimated / measured < 2, (estimated, measured)
    del parent

def test_models_trained_at_once_multiply():
    cfg = Config(device='cpu')
    one, four = estimate_memory(cfg, SearchSpace()), estimate_memory(cfg, SearchSpace(), models=4)
    assert four['total'] - four['runtime'] == 4 * (one['total'] - one['runtime'])
    n = available_memory('cpu') // one['per_model'] + 2
    with pytest.raises(NotEnoughMemoryError, match=f'of each of {n} models trained at once'):
        check_memory(cfg, SearchSpace(), models=int(n))

def test_cuda_uses_the_driver_and_the_cache(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'mem_get_info', lambda dev=None: (3 * GiB, 16 * GiB))
    monkeypatch.setattr(torch.cuda, 'memory_reserved', lambda dev=None: 2 * GiB)
    monkeypatch.setattr(torch.cuda, 'memory_allocated', lambda dev=None: GiB)
    assert available_memory('cuda') == 4 * GiB               # free + cached but unused
    cfg = Config(device='cpu')
    est = check_memory(cfg, 'dot|softmax|output_gate|learned', device='cuda')   # fused on a GPU: no T·T maps
    assert est['scores'] == 0 and est['device'] == 'cuda'
    with pytest.raises(NotEnoughMemoryError, match=r'cuda has 4\.0 GiB free'):
        check_memory(Config(max_seq_len=4096, device='cpu'), 'dot|sparsemax|none|fixed', device='cuda')

def test_cpu_fallbacks(monkeypatch):
    monkeypatch.setattr(memory, 'MEMINFO', '/nonexistent/meminfo')   # no /proc: os.sysconf
    assert available_memory('cpu') > 0
    monkeypatch.setattr(memory, '_cgroup_free', lambda: 123 * 2**20)  # a container limit below the machine's memory
    assert available_memory('cpu') == 123 * 2**20
    with pytest.raises(NotEnoughMemoryError, match=r'this machine has 123\.0 MiB free'):
        check_memory(Config(device='cpu'), 'dot|softmax|none|fixed')
