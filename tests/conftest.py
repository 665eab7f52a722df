import os, sys, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_WIKITEXT = ROOT.parent / 'shared' / 'data' / 'wikitext-2'

def cli(*args, timeout=300, env=None, **kw):
    "Run the evo-attention command (as installed) and return the CompletedProcess."
    e = {**os.environ, 'PYTHONUNBUFFERED': '1', **(env or {})}
    return subprocess.run(CLI + [*map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=kw.pop('cwd', None))

# the console script's entry point, run with this interpreter
CLI = [sys.executable, '-c', 'import sys; from evo_attention.cli import main; sys.exit(main())']

# the smallest settings that still train something
TINY = ['--data', 'induction', '--device', 'cpu', '--seq-len', '16', '--d-model', '16', '--n-heads', '2',
        '--batch-size', '8', '--vocab-size', '16', '--no-progress']

@pytest.fixture
def wikitext_dir():
    if not (SHARED_WIKITEXT / 'valid.txt').exists(): pytest.skip('shared WikiText-2 text not present')
    return SHARED_WIKITEXT

@pytest.fixture
def one_thread():
    "One torch thread for tests of tiny tensors: several times faster than two on a busy machine."
    import torch
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def fast_matches_reference(gene, x, **attn_kw):
    "Build `gene`'s attention on the fast path, nudge its position/normalization parameters off their start values, copy it to the reference path, and check outputs (1e-5) and input gradients (1e-4) agree; returns (fast, ref)."
    import torch
    from evo_attention.attention import EvoAttention
    fast = EvoAttention(gene, x.shape[-1], 4, fast=True, **attn_kw)
    with torch.no_grad():
        for n, p in fast.named_parameters():
            if n.startswith(('position', 'normalize')): p.add_(torch.randn_like(p) * 0.5)   # away from the start values
    ref = EvoAttention(gene, x.shape[-1], 4, fast=False, **attn_kw); ref.load_state_dict(fast.state_dict())
    assert fast.uses_fused and not ref.uses_fused
    xf, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    yf, yr = fast(xf), ref(xr)
    torch.testing.assert_close(yf, yr, rtol=1e-5, atol=1e-5)
    yf.pow(2).sum().backward(); yr.pow(2).sum().backward()
    torch.testing.assert_close(xf.grad, xr.grad, rtol=1e-4, atol=1e-4)
    return fast, ref

def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: takes more than ~10 s on a CPU (still run by tools/test.sh)')

# The attention components' registries, the original's options, and the built-in options added since
# (shared by the option, normalization and attention tests)
from evo_attention import options
from evo_attention.gene import ORIGINAL_OPTIONS
REGISTRIES = {'similarity': options.SIMILARITIES, 'normalization': options.NORMALIZATIONS,
              'gating': options.GATINGS, 'temperature': options.TEMPERATURES}
# the original's options (its top-k 'sparsemax' too), and the built-in options added since
ORIGINAL = {c: ORIGINAL_OPTIONS[c] + ['topk_softmax'] * (c == 'normalization') for c in REGISTRIES}
NEW = {c: [n for n in reg if n not in ORIGINAL[c] and reg[n].__module__.startswith('evo_attention.')]
       for c, reg in REGISTRIES.items()}
NEW_OPTIONS = [(c, n) for c, names in NEW.items() for n in names]
NEW_NORMS = NEW['normalization']

# A notebook's cells that train three tiny models on the induction task (seconds) and show the
# attention picker of two of them beside the baseline (the browser and the ipywidgets 7 tests)
PICKER_CELLS = ["""import torch; torch.set_num_threads(1)
from evo_attention.config import Config
from evo_attention.data import synthetic_task
from evo_attention.gene import AttentionGene
from evo_attention.train import train_and_evaluate
from evo_attention.attention_maps import attention_picker""",
"""config = Config(vocab_size=16, max_seq_len=16, d_model=16, n_heads=2, n_layers=2, batch_size=8,
                learning_rate=1e-2, train_steps=20, log_interval=10, dropout=0.0, device='cpu',
                threads=1)
data = synthetic_task('induction', max_seq_len=16, vocab_size=16, n_train=256, n_valid=16)
genes = [AttentionGene(), AttentionGene(normalization='sparsemax'),
         AttentionGene(similarity='cosine')]
models = {}
for g in genes:
    train_and_evaluate(g, config, data, on_trained=lambda m, _, g=g: models.update({g.id: m}))""",
"picker = attention_picker(models, baseline=genes[0].id)\npicker"]
# the genes the picker's dropdown offers (the baseline is drawn beside them, not offered)
PICKER_OFFERS = ['dot|sparsemax|none|fixed|bias=true|dropout=0.1',
                 'cosine|softmax|none|fixed|bias=true|dropout=0.1']
