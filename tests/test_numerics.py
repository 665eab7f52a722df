"""Results never depend on the CPU or on what ran earlier in the process.

The package is made to believe it runs on a CPU with AMX tiles (its CPU detection reads a cpuinfo file
that lists `amx_bf16`): a training then gives bit-identical metrics first in a process, after another
training, after the bf16 probe and after the checks and estimates that build models; and a search
killed and resumed there ends with the history of an uninterrupted one. The run's numerics are decided
once, kept in its run folder and reused on resume.
"""
import json, subprocess, sys, textwrap
from pathlib import Path
from conftest import TINY, cli
from test_resume import SEARCH, kill_when, lines, outcome, start

AMX_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"

def fake_cpu(tmp_path: Path) -> Path:
    p = tmp_path / 'cpuinfo'; p.write_text(AMX_CPUINFO); return p

# the evo-attention command, with the CPU detection reading `cpuinfo` (the first argument)
AMX_CLI = [sys.executable, '-c', 'import sys, evo_attention.fused_loss as f; f.CPUINFO = sys.argv.pop(1); '
           'from evo_attention.cli import main; sys.exit(main())']

def run_py(code: str, cpuinfo: Path) -> dict:
    "Run `code` in a fresh interpreter whose CPU detection reads `cpuinfo`; it prints one JSON line."
    head = f"import evo_attention.fused_loss as f; f.CPUINFO = {str(cpuinfo)!r}\n"
    r = subprocess.run([sys.executable, '-c', head + textwrap.dedent(code)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])

TRAINING = """
import json, torch
from evo_attention.config import Config
from evo_attention.data import synthetic_task
from evo_attention.train import train_and_evaluate
from evo_attention.fused_loss import cpu_features, probe_cpu_bf16
from evo_attention.attention import causal_check
from evo_attention.model import model_causal_check
from evo_attention.memory import check_memory, estimate_memory
from evo_attention.gene import AttentionGene
torch.set_num_threads(1)
cfg = Config(device='cpu', max_seq_len=16, d_model=16, n_heads=2, n_layers=1, batch_size=8, vocab_size=16,
             train_steps=30, eval_batch_size=16, amp='auto')
data = synthetic_task('induction', max_seq_len=16, vocab_size=16, n_train=256, n_valid=32)
def train(): m = train_and_evaluate('dot|softmax|none|fixed', cfg, data); return [m['perplexity'], m['train_loss'], m['amp']]
out = dict(amx=cpu_features()['amx'], first=train(), second=train(), third=train())
probe_cpu_bf16(cfg, steps=1); out['after_probe'] = train()
causal_check(AttentionGene()); model_causal_check('dot|sparsemax|output_gate|learned')
check_memory(cfg, AttentionGene(), 16, torch.device('cpu')); estimate_memory(cfg, AttentionGene(), 16)
out['after_checks'] = train()
print(json.dumps(out))
"""

def test_trainings_identical_first_in_process_after_training_probe_and_checks(tmp_path):
    out = run_py(TRAINING, fake_cpu(tmp_path))
    assert out['amx'] is True                                   # the package believes it has AMX
    first = out['first']
    assert first[2] == 'fp32'                                   # 'auto' on a CPU: fp32, decided without a timing
    for k in ('second', 'third', 'after_probe', 'after_checks'): assert out[k] == first, (k, out)

def test_same_training_with_and_without_amx(tmp_path):
    amx = run_py(TRAINING, fake_cpu(tmp_path))
    plain = tmp_path / 'plain'; plain.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2\n")
    avx2 = run_py(TRAINING, plain)
    assert avx2['amx'] is False and avx2['first'] == amx['first']

def amx_cli(cpuinfo, *args, **kw):
    return subprocess.run(AMX_CLI + [str(cpuinfo), *map(str, args)], capture_output=True, text=True, timeout=600, **kw)

def test_search_killed_and_resumed_on_amx_matches_uninterrupted(tmp_path, monkeypatch):
    cpuinfo = fake_cpu(tmp_path)
    ref = tmp_path / 'ref'
    r = amx_cli(cpuinfo, 'evolve', *SEARCH, '--out', ref)
    assert r.returncode == 0, r.stderr
    expected = outcome(ref)
    saved = json.loads((ref / 'config.json').read_text())
    assert saved['numerics']['amp'] == 'fp32' and saved['numerics']['cpu']['amx'] is True   # recorded when it started
    out = tmp_path / 'killed'
    import test_resume
    monkeypatch.setattr(test_resume, 'CLI', AMX_CLI + [str(cpuinfo)])   # start() runs the command on the "AMX" CPU
    for n in (1, 3): kill_when(out, lambda: lines(out) >= n)
    p = start(out); _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err.decode()
    assert outcome(out) == expected

def test_resume_reuses_the_recorded_numerics(tmp_path):
    out = tmp_path / 'run'
    args = [*TINY, '--steps', '20', '--population', '2', '--elites', '1', '--finalists', '0', '--no-ablations', '--no-baseline']
    assert cli('evolve', *args, '--generations', '1', '--out', out).returncode == 0
    conf = json.loads((out / 'config.json').read_text())
    assert conf['numerics']['amp'] == 'fp32' and conf['numerics']['device'] == 'cpu'
    conf['numerics']['amp'] = 'bf16'                      # as if the search had started where bf16 was chosen
    (out / 'config.json').write_text(json.dumps(conf))
    r = cli('evolve', *args, '--generations', '2', '--out', out, '--resume')
    assert r.returncode == 0, r.stderr
    hist = [json.loads(l) for l in (out / 'history.jsonl').read_text().splitlines()]
    assert {h['amp'] for h in hist if h['generation'] == 0} == {'fp32'}
    assert {h['amp'] for h in hist if h['generation'] == 1} == {'bfloat16'}      # resumed with the recorded choice
    assert json.loads((out / 'config.json').read_text())['numerics']['amp'] == 'bf16'
    rep = cli('report', out)
    assert rep.returncode == 0 and 'numerics: bf16 on cpu' in rep.stdout

def test_older_folder_without_numerics_records_them_on_resume(tmp_path):
    out = tmp_path / 'run'
    args = [*TINY, '--steps', '20', '--population', '2', '--generations', '1', '--elites', '1', '--finalists', '0',
            '--no-ablations', '--no-baseline']
    assert cli('evolve', *args, '--out', out).returncode == 0
    conf = json.loads((out / 'config.json').read_text()); del conf['numerics']
    (out / 'config.json').write_text(json.dumps(conf))
    r = cli('evolve', *args, '--out', out, '--resume')
    assert r.returncode == 0, r.stderr
    assert json.loads((out / 'config.json').read_text())['numerics']['amp'] == 'fp32'
