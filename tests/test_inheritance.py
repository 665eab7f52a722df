"Weight inheritance: the tensor rule (shapes, components, one parent per tensor) and searches that inherit (records, resume, executors)."
import json, random, shutil
import pytest, torch
from evo_attention.config import Config
from evo_attention.data import synthetic_task
from evo_attention.evolution import Evolution
from evo_attention.gene import AttentionGene, SearchSpace
from evo_attention.inheritance import (InheritWeights, inherit, inheritance_plan, tensor_owner, training_hooks,
                                       weights_file, load_weights)
from evo_attention.layers import LayerGenes, LayerSpace
from evo_attention.train import seeded_model, train_and_evaluate

TIMING = ('seconds', 'train_seconds', 'tokens_per_sec')
KEYS = ('inherited_from', 'inherited_tensors', 'inherited_params', 'inherit_missing')
TINY = Config(vocab_size=16, max_seq_len=16, d_model=16, n_heads=2, n_layers=2, batch_size=8, train_steps=8, log_interval=4,
              population_size=4, n_generations=3, elite_size=1, finalists=0, device='cpu')
INHERIT = Config(**{**TINY.to_dict(), 'inherit_weights': True})

@pytest.fixture(scope='module')
def data(): return synthetic_task('induction', max_seq_len=16, vocab_size=16, n_train=64, n_valid=8)

def params(gene, config=TINY, seed=0, shift=0.0) -> dict:
    "A model's parameters, shifted by `shift` (stands for training: each parent's tensors differ from every other's)."
    return {n: p.detach() + shift for n, p in seeded_model(gene, config, 16, seed).named_parameters()}

def rows(evo) -> list[dict]:
    return [{k: v for k, v in json.loads(l).items() if k not in TIMING} for l in evo.run_dir.file('history.jsonl').read_text().splitlines()]

def children(n: int, seed: int = 0, space=None):
    "`n` (parent, parent, child) triples made by the search's own operators from random genes of the default space."
    space, rng = space or SearchSpace(), random.Random(seed)
    for _ in range(n):
        a, b = space.sample(rng), space.sample(rng)
        yield a, b, space.mutate(space.crossover(a, b, rng), 0.3, rng)

# -- the rule ---------------------------------------------------------------------------------------------------------
def test_each_tensor_whole_from_one_parent_with_matching_shape_and_component(one_thread):
    "Over many children of random parents: each tensor is exactly one source's — its own initial value or the planned parent's."
    inherited = fresh = 0
    for a, b, child in children(40):
        sa, sb = params(a, seed=1, shift=1.0), params(b, seed=2, shift=2.0)
        model = seeded_model(child, TINY, 16, 3)
        start = {n: p.detach().clone() for n, p in model.named_parameters()}
        plan = inheritance_plan(model, [(a, sa), (b, sb)])
        inherit(model, [(a, sa), (b, sb)])
        for name, p in model.named_parameters():
            sources = [k for k, src in enumerate((start, sa, sb)) if name in src and src[name].shape == p.shape and torch.equal(p, src[name])]
            assert sources == [0 if plan[name] is None else 1 + plan[name]], (child.id, name)      # whole, from one source
            if plan[name] is None: fresh += 1; continue
            inherited += 1
            layer, comp = tensor_owner(name)
            first_ok = name in sa and sa[name].shape == p.shape and (comp is None or getattr(a, comp, None) == getattr(child, comp, None))
            assert plan[name] == (0 if first_ok else 1), (child.id, name)        # the first parent that can give it
            if comp is not None: assert getattr((a, b)[plan[name]], comp, None) == getattr(child, comp, None)
    assert inherited > 0 and fresh > 0

def test_nothing_copied_across_mismatched_shapes(one_thread):
    "A parent of another width, depth or context gives only tensors whose shapes agree; the rest stays at its initial values."
    gene = AttentionGene('multiplicative', 'softmax', 'highway', 'learned')
    for other in (dict(d_model=32), dict(n_layers=1), dict(max_seq_len=32)):
        parent = params(gene, Config(**{**TINY.to_dict(), **other}), seed=1, shift=1.0)
        model = seeded_model(gene, TINY, 16, 3)
        start = {n: p.detach().clone() for n, p in model.named_parameters()}
        plan = inheritance_plan(model, [(gene, parent)])
        summary = inherit(model, [(gene, parent)])
        for name, p in model.named_parameters():
            same = name in parent and parent[name].shape == p.shape
            assert (plan[name] == 0) == same
            assert torch.equal(p, parent[name] if same else start[name]), (other, name)
        assert summary['inherited_tensors'] == sum(i is not None for i in plan.values())
        if other == dict(d_model=32):     # only the learned temperatures, (1, n_heads, 1, 1) at every width
            assert {n for n, i in plan.items() if i is not None} == {'blocks.0.attn.temperature.tau', 'blocks.1.attn.temperature.tau'}

def test_changed_component_starts_fresh_even_when_shapes_agree(one_thread):
    a = AttentionGene(gating='input_gate', temperature='learned')
    child = AttentionGene(gating='output_gate', temperature='ssmax')   # the same gate shapes
    model = seeded_model(child, TINY, 16, 3)
    plan = inheritance_plan(model, [(a, params(a, seed=1))])
    assert [n for n in plan if '.gating.' in n] and all(plan[n] is None for n in plan if '.gating.' in n or '.temperature.' in n)
    assert all(plan[n] == 0 for n in plan if '.qkv.' in n or '.mlp.' in n or n.startswith(('tok_emb', 'ln_f', 'pos_emb')))

def test_per_layer_genes_compare_layer_by_layer(one_thread):
    "Stacks bred layer by layer: block i inherits a component's tensors only from a parent whose layer i has the child's value."
    space, rng, checked = LayerSpace(SearchSpace(), 2), random.Random(5), 0
    for _ in range(20):
        a, b = space.sample(rng), space.sample(rng)
        child = space.mutate(space.crossover(a, b, rng), 0.3, rng)
        states = [(a, params(a, seed=1, shift=1.0)), (b, params(b, seed=2, shift=2.0))]
        model = seeded_model(child, TINY, 16, 3)
        plan = inheritance_plan(model, states)
        inherit(model, states)
        stack = lambda g: g.layers if isinstance(g, LayerGenes) else (g, g)
        for name, p in model.named_parameters():
            i = plan[name]
            if i is None: continue
            assert torch.equal(p, states[i][1][name])
            layer, comp = tensor_owner(name)
            if comp is None: continue
            pick = lambda g: list(stack(g)) if layer is None else [stack(g)[layer]]
            assert [getattr(g, comp) for g in pick((a, b)[i])] == [getattr(g, comp) for g in pick(child)], name
            checked += 1
    assert checked > 0

@pytest.mark.parametrize('change, owned', [(dict(norm='rmsnorm'), ('.ln1.', '.ln2.', 'ln_f.')),
                                           (dict(kv_heads='mqa'), ('.attn.qkv.', '.attn.proj.')),
                                           (dict(ffn='swiglu'), ('.mlp.',)), (dict(ffn='moe'), ('.mlp.',))])
def test_architecture_components_own_their_tensors(change, owned, one_thread):
    "A changed architecture component starts fresh (RMSNorm's weight has LayerNorm's shape, MQA's projections GQA's at 2 heads)."
    for parent in (AttentionGene(), AttentionGene(kv_heads='gqa')):
        if parent == AttentionGene(**change): continue
        child = AttentionGene(**change)
        plan = inheritance_plan(seeded_model(child, TINY, 16, 3), [(parent, params(parent, seed=1))])
        mine = [n for n in plan if any(o in n for o in owned)]
        assert mine and all(plan[n] is None for n in mine), (parent.id, child.id)
        rest = [n for n in plan if n not in mine and (parent.kv_heads == child.kv_heads or '.attn.' not in n)]
        assert rest and all(plan[n] == 0 for n in rest), (parent.id, child.id)

# -- in a search --------------------------------------------------------------------------------------------------------
def test_search_inherits_and_records_it(tmp_path, data, one_thread):
    evo = Evolution(INHERIT, data=data, run_dir=tmp_path / 'run', progress=False)
    evo.run()
    recs = rows(evo)
    base, pop = recs[0], [r for r in recs if r['role'] == 'population']
    assert base['role'] == 'baseline' and not any(k in base for k in KEYS)
    assert all(r['inherited_from'] == [] and r['inherited_params'] == 0 for r in pop if r['generation'] == 0)
    kids = [r for r in pop if r['generation'] > 0]
    assert kids and all(set(r['inherited_from']) <= set(r['parents']) and r['inherit_missing'] == [] for r in kids)
    assert any(0 < r['inherited_params'] < r['params'] or r['inherited_params'] == r['params'] for r in kids if r['inherited_from'])
    assert sum(r['inherited_params'] > 0 for r in kids) >= len(kids) // 2
    for r in recs: assert weights_file(evo.run_dir.path, r['gene'], r['replicate']).exists(), r['gene']
    assert len(list((evo.run_dir.path / 'weights').glob('*.pt'))) == len(recs)
    # the recorded training is the inherited one: retraining with the parents' kept weights reproduces it exactly
    kid = next(r for r in kids if r['inherited_params'] > 0)
    again = train_and_evaluate(kid['gene'], INHERIT, data, replicate=kid['replicate'],
                               init=InheritWeights(str(evo.run_dir.path), tuple(kid['parents']), kid['replicate']))
    assert again['perplexity'] == kid['perplexity']
    scratch = train_and_evaluate(kid['gene'], INHERIT, data, replicate=kid['replicate'])
    assert scratch['perplexity'] != kid['perplexity']

def test_off_keeps_records_and_folder_as_before(tmp_path, data, one_thread):
    "Off: no weights folder, no new keys; on: the baseline's and generation 0's trainings (from scratch) are the same trainings."
    off = Evolution(TINY, data=data, run_dir=tmp_path / 'off', progress=False); off.run()
    on = Evolution(INHERIT, data=data, run_dir=tmp_path / 'on', progress=False); on.run()
    assert not (tmp_path / 'off' / 'weights').exists()
    roff, ron = rows(off), rows(on)
    assert not any(k in r for r in roff for k in KEYS)
    first = lambda rs: [{k: v for k, v in r.items() if k not in KEYS} for r in rs if r['generation'] == 0]
    assert first(roff) == first(ron)
    # a custom evaluate without the hooks works when inheritance is off, and is refused when it is on
    plain = lambda gene, config, data, replicate=0, progress=False, should_stop=None: train_and_evaluate(gene, config, data, replicate=replicate)
    Evolution(TINY, data=data, run_dir=tmp_path / 'plain', progress=False, evaluate=plain)
    with pytest.raises(ValueError, match='init= and on_trained='):
        Evolution(INHERIT, data=data, run_dir=tmp_path / 'refused', progress=False, evaluate=plain)

class Crash(Exception): pass

def test_resume_gives_the_same_records(tmp_path, data, one_thread):
    straight = Evolution(INHERIT, data=data, run_dir=tmp_path / 'straight', progress=False); straight.run()
    n = len(rows(straight))
    for k in (3, n - 2):                      # in generation 0, and among the last generation's children
        count = [0]
        def cb(event, evo, **kw):
            if event == 'evaluated':
                count[0] += 1
                if count[0] == k: raise Crash
        with pytest.raises(Crash):
            Evolution(INHERIT, data=data, run_dir=tmp_path / f'crash{k}', progress=False, callback=cb).run()
        Evolution(INHERIT, data=data, run_dir=tmp_path / f'crash{k}', progress=False).run()
        assert rows(Evolution(INHERIT, data=data, run_dir=tmp_path / f'crash{k}', progress=False)) == rows(straight)

def test_missing_weights_start_fresh_and_say_so(tmp_path, data, one_thread):
    "The weights are never needed to resume: without them, the children start fresh and their records name the parents."
    cfg = Config(**{**INHERIT.to_dict(), 'n_generations': 1})
    Evolution(cfg, data=data, run_dir=tmp_path / 'run', progress=False).run()
    shutil.rmtree(tmp_path / 'run' / 'weights')
    more = Evolution(Config(**{**INHERIT.to_dict(), 'n_generations': 2}), data=data, run_dir=tmp_path / 'run', progress=False)
    more.run()
    kids = [r for r in rows(more) if r['role'] == 'population' and r['generation'] == 1]
    assert kids and all(r['inherited_from'] == [] and r['inherited_params'] == 0 and r['inherit_missing'] == r['parents'] for r in kids)

def test_workers_give_the_records_of_one_by_one(tmp_path, data):
    cfg = Config(**{**INHERIT.to_dict(), 'n_generations': 2, 'threads': 1})   # 2 workers on 2 cores
    one = Evolution(cfg, data=data, run_dir=tmp_path / 'one', progress=False); one.run()
    par = Evolution(Config(**{**cfg.to_dict(), 'workers': 2}), data=data, run_dir=tmp_path / 'par', progress=False); par.run()
    key = lambda r: (r['generation'], r['role'], r['gene'], r['replicate'])
    assert sorted(rows(par), key=key) == sorted(rows(one), key=key)
    assert any(r['inherited_params'] > 0 for r in rows(par) if r['role'] == 'population' and r['generation'] == 1)

def test_together_falls_back_to_one_by_one(tmp_path, data, one_thread):
    one = Evolution(INHERIT, data=data, run_dir=tmp_path / 'one', progress=False); one.run()
    tog = Evolution(Config(**{**INHERIT.to_dict(), 'together': True}), data=data, run_dir=tmp_path / 'tog', progress=False)
    with pytest.warns(UserWarning, match='one by one'): tog.run()
    assert rows(tog) == rows(one) and not any('together' in r for r in rows(tog))
    # without inheritance the same setting does train a generation together
    plain = Evolution(Config(**{**TINY.to_dict(), 'together': True}), data=data, run_dir=tmp_path / 'plain', progress=False); plain.run()
    assert any(r.get('together', 1) > 1 for r in rows(plain))

def test_ray_falls_back_to_one_by_one(tmp_path, data, monkeypatch, one_thread):
    import evo_attention.ray_executor as rx
    def no_ray(*a, **kw): raise AssertionError('inherited trainings must not be sent to Ray')
    monkeypatch.setattr(rx, 'ray_jobs', no_ray)
    one = Evolution(INHERIT, data=data, run_dir=tmp_path / 'one', progress=False); one.run()
    ray = Evolution(Config(**{**INHERIT.to_dict(), 'executor': 'ray'}), data=data, run_dir=tmp_path / 'ray', progress=False)
    with pytest.warns(UserWarning, match='not on Ray'): ray.run()
    assert rows(ray) == rows(one)

def test_hooks_by_role(tmp_path):
    class Ind: parents = ('dot|softmax|none|fixed|bias=true|dropout=0.1',)
    assert set(training_hooks(tmp_path, 'population', Ind, 0)) == {'init', 'on_trained'}
    assert set(training_hooks(tmp_path, 'baseline', Ind, 0)) == {'on_trained'}
    assert training_hooks(tmp_path, 'finalist', Ind, 1000) == {} and training_hooks(tmp_path, 'ablation', Ind, 1000) == {}
