"""Per-layer genes: the model builds block i from layer i's gene, training and memory estimates take them, the
population trainer falls back to one by one for them, and a search with Config.per_layer runs, resumes and reports."""
import json, warnings
import pytest
import torch
from evo_attention import Config, AttentionGene, build_model, train_and_evaluate
from evo_attention.data import synthetic_task
from evo_attention.layers import LayerGenes, LayerSpace, parse_gene
from evo_attention.memory import estimate_memory
from evo_attention.model import NoPositionEmbedding, model_causal_check
from evo_attention.population import train_together

pytestmark = pytest.mark.usefixtures('one_thread')
CFG = Config(vocab_size=32, max_seq_len=16, d_model=16, n_heads=2, n_layers=2, batch_size=8, eval_batch_size=32,
             train_steps=12, log_interval=4, dropout=0.0, device='cpu')
DATA = synthetic_task('induction', max_seq_len=16, vocab_size=32, n_train=256, n_valid=32)
STACK = 'dot|sparsemax|none|fixed|bias=true|dropout=0 / additive|softmax|output_gate|learned|bias=false|dropout=0|position=rope'

def test_blocks_follow_their_layers():
    g = parse_gene(STACK)
    m = build_model(g, CFG)
    assert [b.attn.gene for b in m.blocks] == list(g.layers)
    assert not isinstance(m.pos_emb, NoPositionEmbedding)            # layer 0 asks for the learned embedding
    rope = LayerGenes((AttentionGene(position='rope'), AttentionGene('additive', position='rope')))
    assert isinstance(build_model(rope, CFG).pos_emb, NoPositionEmbedding)
    plain = build_model(AttentionGene(), CFG)                          # a plain gene: every block the same, as before
    assert all(b.attn.gene == AttentionGene() for b in plain.blocks)
    with pytest.raises(ValueError, match='has 2 layers but the model has n_layers=3'):
        build_model(g, Config(**{**CFG.to_dict(), 'n_layers': 3}))

@pytest.mark.parametrize('fast', [True, False])
def test_stack_is_causal(fast):
    for gid in (STACK, 'cosine|relu_norm|highway|adaptive / dot|entmax15|attn_gate|ssmax'):
        r = model_causal_check(gid, fast=fast)
        assert r['leak'] <= 1e-6 and r['changed'] and r['finite'], (gid, r)

def test_training_and_memory_take_a_stack():
    m = train_and_evaluate(STACK, CFG, DATA)
    assert m['gene'] == parse_gene(STACK).id and m['status'] == 'ok' and m['loss_curve'][-1][1] < m['loss_curve'][0][1]
    est = estimate_memory(CFG, STACK, 32)
    assert est['total'] >= estimate_memory(CFG, 'dot|sparsemax|none|fixed|bias=true|dropout=0', 32)['total']
    assert estimate_memory(CFG, LayerSpace(__import__('evo_attention').SearchSpace.original(), 2), 32)['total'] > 0

def test_together_falls_back_one_by_one_for_a_stack():
    genes = [STACK, 'dot|softmax|none|fixed|bias=true|dropout=0']
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        r = train_together(genes, CFG, DATA)
    assert any('per-layer gene' in str(x.message) for x in w)
    alone = train_and_evaluate(STACK, CFG, DATA)
    assert r[0]['together'] == 1 and r[0]['perplexity'] == pytest.approx(alone['perplexity'], rel=1e-6)
