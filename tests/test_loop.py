"""One training loop for one model or many (`train.fit`).

A gene trained one by one gives the metrics recorded from the loop before it served both paths
(tests/fixtures/loop_reference.json): bit for bit on a CPU of the kind that recorded them, else to
rounding. The hooks (`should_stop`, `on_log`, `init`, `on_trained`) work for one model and for many.
"""
import json, sys
from pathlib import Path
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / 'fixtures'))
import loop_reference as ref

REFERENCE = json.loads((Path(__file__).parent / 'fixtures' / 'loop_reference.json').read_text())

def same_machine_kind() -> bool:
    "Bit-identical results need the same CPU kernels: torch's CPU capability, AMX, AVX-512-BF16, torch version."
    return ref.machine() == REFERENCE['machine']

@pytest.mark.parametrize('case', REFERENCE['cases'], ids=[c['gene'][:40] for c in REFERENCE['cases']])
def test_one_by_one_matches_the_recorded_loop(case, one_thread):
    got = ref.run_case(case['gene'], case['config'], case['hurdle'])
    want = case['metrics']
    got['loss_curve'] = [list(p) for p in got['loss_curve']]
    if same_machine_kind(): assert got == want
    else:                                                   # other CPU kernels round differently
        assert {k: v for k, v in got.items() if not isinstance(v, float) and k != 'loss_curve'} == \
               {k: v for k, v in want.items() if not isinstance(v, float) and k != 'loss_curve'}
        assert got['perplexity'] == pytest.approx(want['perplexity'], rel=1e-3)

def test_reference_covers_hurdle_moe_and_per_layer():
    cases = REFERENCE['cases']
    assert any(c['metrics']['status'] == 'stopped' for c in cases)
    assert any('ffn=moe' in c['gene'] for c in cases) and any(' / ' in c['gene'] for c in cases)

def test_hooks_for_one_model_and_many(one_thread):
    from evo_attention.population import train_together
    from evo_attention.train import train_and_evaluate
    cfg = ref.config(train_steps=12, dropout=0.0)
    data = ref.data()
    genes = ['dot|softmax|none|fixed|bias=true|dropout=0', 'dot|sparsemax|output_gate|learned|bias=true|dropout=0']
    seen_init, seen_trained, logs = [], [], []
    def init(model):
        with torch.no_grad(): model.tok_emb.weight.mul_(0.5)       # a change the training must start from
        seen_init.append(model.gene.id)
    def trained(model, m): seen_trained.append((model.gene.id, m['perplexity']))
    together = train_together(genes, cfg, data, init=init, on_trained=trained,
                              should_stop=[lambda s, l: s >= 5, None], on_log=lambda s, l: logs.append(s))
    assert sorted(seen_init) == sorted(genes) and [t['together'] for t in together] == [2, 2]
    assert together[0]['status'] == 'stopped' and together[0]['steps'] == 5 and together[1]['steps'] == 12
    assert sorted(g for g, _ in seen_trained) == sorted(genes)
    assert dict(seen_trained)[genes[1]] == together[1]['perplexity']
    one = train_and_evaluate(genes[1], cfg, data, init=init)         # the same start, one by one
    assert one['perplexity'] == pytest.approx(together[1]['perplexity'], rel=1e-4)
    plain = train_and_evaluate(genes[1], cfg, data)
    assert plain['perplexity'] != one['perplexity']                  # init changed the training
    assert set(logs) >= {1, 5, 10, 12}
