"The finalist stage keeps its models (one by one and trained together), and the attention command and report read them."
import json, re
import pytest, torch
from evo_attention.attention_maps import attention_text, finalist_models, kept_model
from evo_attention.cli import main
from evo_attention.config import Config
from evo_attention.data import synthetic_task
from evo_attention.evolution import Evolution
from evo_attention.finalists import FIRST_FINAL_REPLICATE
from evo_attention.inheritance import model_file, load_model_file
from evo_attention.reporting import report_html

TINY = Config(vocab_size=16, max_seq_len=8, d_model=16, n_heads=2, n_layers=2, batch_size=4, train_steps=4,
              log_interval=2, population_size=2, n_generations=1, elite_size=1, finalists=1, final_replicates=2,
              ablations=False, device='cpu')

@pytest.fixture(scope='module')
def data(): return synthetic_task('induction', max_seq_len=8, vocab_size=16, n_train=32, n_valid=8)

def search(tmp_path, data, name, **kw):
    evo = Evolution(Config(**{**TINY.to_dict(), **kw}), data=data, run_dir=tmp_path / name, progress=False)
    evo.run()
    return evo

@pytest.mark.parametrize('together', [False, True])
def test_the_finalist_stage_keeps_its_first_replicates_models(tmp_path, data, one_thread, together):
    evo = search(tmp_path, data, 'run', together=together)
    fin = json.loads(evo.run_dir.file('finalists.json').read_text())
    genes = [g['gene'] for g in fin['genes']]                       # the baseline and the finalist
    for g in genes:
        d = load_model_file(model_file(evo.run_dir.path, g))
        assert d['gene'] == g and d['replicate'] == FIRST_FINAL_REPLICATE and d['vocab_size'] == 16
    assert sorted(p.name for p in (evo.run_dir.path / 'models').glob('*.pt')) == sorted(
        model_file(evo.run_dir.path, g).name for g in genes)         # nothing else: no search genes, no temp files
    # the kept model is the one that was evaluated: its validation perplexity again
    from evo_attention.train import evaluate
    m = kept_model(evo.run_dir.path, genes[0])
    rec = evo.cache[(genes[0], FIRST_FINAL_REPLICATE)]
    assert evaluate(m, data, evo.training_config) == pytest.approx(rec['val_loss'], rel=1e-5)
    assert list(finalist_models(evo.run_dir.path)) == genes

@pytest.mark.slow
def test_attention_command_and_report(tmp_path, data, one_thread, capsys):
    evo = search(tmp_path, data, 'run')
    gene = json.loads(evo.run_dir.file('finalists.json').read_text())['genes'][1]['gene']
    assert main(['attention', gene, '--run', str(evo.run_dir.path), '--sample', '1 2 3 1 2 3']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f'Attention of {gene}') and 'the sample (6 tokens)' in out[0]
    assert out[1].split() == ['layer', 'head', 'entropy', 'sparsity', 'sink', 'induction'] and len(out) == 2 + 4
    doc = report_html(evo.run_dir.path, tmp_path / 'r.html').read_text()
    assert 'Attention of the finalists' in doc and 'alt="Attention maps: the winner above the baseline"' in doc
    # an older folder (no models): the report and the command say so
    for f in (evo.run_dir.path / 'models').iterdir(): f.unlink()
    assert 'No kept models in this folder' in report_html(evo.run_dir.path, tmp_path / 'old.html').read_text()
    assert main(['attention', gene, '--run', str(evo.run_dir.path)]) == 2
    assert '--train' in capsys.readouterr().err
