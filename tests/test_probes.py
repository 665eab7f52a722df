"""The probe suite: each probe is learnable where it should be and stays at chance for a model that
cannot look at other positions; the probe screen drops genes before their text training and
resumes."""
import json, math
import pytest
import torch
from evo_attention.config import Config
from evo_attention.evolution import Evolution
from evo_attention.data import synthetic_task
from evo_attention.options import SIMILARITIES
from evo_attention.probes import PROBES, probe_data, probe_profile, probe_table

SOFTMAX = 'dot|softmax|none|fixed|bias=true|dropout=0'
BLIND = 'self_only|softmax|none|fixed|bias=true|dropout=0'

@pytest.fixture
def self_only():
    "A similarity under which each query meets only its own key: no attention between positions."
    def self_only(q, k):
        T = q.shape[-2]
        eye = torch.eye(T, dtype=torch.bool, device=q.device)
        return torch.where(eye, 0., -1e4).expand(*q.shape[:-2], T, T)    # (B, H, T, T)
    SIMILARITIES.register('self_only', searchable=False)(self_only)
    yield
    SIMILARITIES.unregister('self_only')

def tiny(steps: int, T: int = 16, lr: float = 1e-2) -> Config:
    return Config(vocab_size=None, max_seq_len=T, d_model=32, n_heads=2, n_layers=2, batch_size=32,
                  eval_batch_size=256, train_steps=steps, learning_rate=lr, log_interval=50,
                  dropout=0.0, device='cpu', threads=1)

@pytest.mark.slow
def test_six_probes_softmax_learns_a_blind_model_stays_at_chance(self_only):
    rows = probe_profile([SOFTMAX, BLIND], tiny(300, lr=3e-3), n_train=1024, n_valid=128)
    print(probe_table(rows))
    acc = {(r['gene'], r['probe']): r for r in rows}
    for p in PROBES:
        soft, blind = acc[SOFTMAX, p], acc[BLIND, p]
        if p == 'memorization':     # the key is the current token: both learn it
            assert soft['accuracy'] > 0.9 and blind['accuracy'] > 0.9
            continue
        # no information moves between positions: at most chance, up to the sample's noise
        assert blind['accuracy'] < blind['chance'] + 0.05, (p, blind)
        assert soft['accuracy'] > blind['accuracy'] + 0.03, (p, soft, blind)
    assert acc[SOFTMAX, 'compression']['accuracy'] > 0.9

@pytest.mark.slow
def test_softmax_reaches_high_accuracy_on_recall_with_enough_steps():
    data = probe_data('in_context_recall', max_seq_len=32, vocab_size=8, n_keys=2, n_train=1024,
                      n_valid=128)
    from evo_attention.train import train_and_evaluate
    r = train_and_evaluate(SOFTMAX, tiny(600, T=32, lr=3e-3), data)
    assert r['answer_accuracy'] > 0.9, r['answer_accuracy']    # chance: 0.25

def test_answer_accuracy_only_with_answers():
    from evo_attention.train import train_and_evaluate
    cfg = tiny(5)
    induction = synthetic_task('induction', 16, 16, n_train=64, n_valid=8)
    text = train_and_evaluate(SOFTMAX, cfg, induction)
    assert 'answer_accuracy' not in text
    probe = train_and_evaluate(SOFTMAX, cfg, probe_data('compression', 16, n_train=64, n_valid=8))
    assert 0 <= probe['answer_accuracy'] <= 1

SCREEN = dict(vocab_size=16, max_seq_len=16, d_model=16, n_heads=2, n_layers=1, batch_size=8,
              eval_batch_size=64, train_steps=20, log_interval=10, population_size=4,
              n_generations=1, elite_size=1, finalists=0, baseline=True, device='cpu', threads=1,
              probe_screen='compression', probe_screen_steps=20)

def history(run_dir) -> list[dict]:
    return [json.loads(l) for l in (run_dir / 'history.jsonl').read_text().splitlines()]

@pytest.mark.slow
def test_probe_screen_drops_genes_before_text_and_resumes(tmp_path):
    data = synthetic_task('induction', 16, 16, n_train=64, n_valid=16)
    for threshold, run in ((1.0, 'all'), (0.0, 'none')):
        cfg = Config(**SCREEN, probe_screen_threshold=threshold)
        Evolution(cfg, data=data, run_dir=tmp_path / run, progress=False).run()
    dropped, kept = history(tmp_path / 'all'), history(tmp_path / 'none')
    pop = [r for r in dropped if r['role'] == 'population']
    assert pop and all(r['status'] == 'screened' and r['steps'] == 0 for r in pop)
    assert all(r['perplexity'] in (None, math.inf) and 0 <= r['probe_accuracy'] < 1 for r in pop)
    assert [r['status'] for r in dropped if r['role'] == 'baseline'] == ['ok']   # never screened
    assert all(r['status'] == 'ok' and 'probe_accuracy' in r
               for r in kept if r['role'] == 'population')
    # the same gene, the same probe accuracy, screened or kept
    acc = {r['gene']: r['probe_accuracy'] for r in pop}
    assert all(acc[r['gene']] == r['probe_accuracy'] for r in kept if r['gene'] in acc)
    before = (tmp_path / 'all' / 'history.jsonl').read_text()
    Evolution(Config(**SCREEN, probe_screen_threshold=1.0), data=data, run_dir=tmp_path / 'all',
              progress=False).run()       # resumed: nothing is screened or trained again
    assert (tmp_path / 'all' / 'history.jsonl').read_text() == before

def test_unknown_screen_probe_is_refused(tmp_path):
    cfg = Config(**{**SCREEN, 'probe_screen': 'recal'})
    data = synthetic_task('induction', 16, 16, n_train=64, n_valid=16)
    with pytest.raises(ValueError, match='is not one of in_context_recall'):
        Evolution(cfg, data=data, run_dir=tmp_path / 'run', progress=False).run()
