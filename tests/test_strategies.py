"""Search strategies and several objectives on the real search loop.

A single-objective GA search keeps the history it had before strategies and objectives existed
(tests/fixtures/search_reference.json); aging and random search resume to the same result; a search
with two objectives ranks by NSGA-II and takes its front to the finalist stage.
"""
import json, sys
from pathlib import Path
import pytest

sys.path.insert(0, str(Path(__file__).parent / 'fixtures'))
import search_reference as ref

REFERENCE = json.loads((Path(__file__).parent / 'fixtures' / 'search_reference.json').read_text())

@pytest.mark.slow
def test_single_objective_history_unchanged(tmp_path, one_thread):
    got = ref.run_search(tmp_path / 'run')
    assert got['populations'] == REFERENCE['populations']
    if ref.machine() == REFERENCE['machine']: assert got['history'] == REFERENCE['history']
    else:                                                   # other CPU kernels round differently
        for g, w in zip(got['history'], REFERENCE['history'], strict=True):
            assert {k: v for k, v in g.items() if not isinstance(v, float)} == \
                   {k: v for k, v in w.items() if not isinstance(v, float)}
            assert g['perplexity'] == pytest.approx(w['perplexity'], rel=1e-3)

@pytest.mark.slow
def test_two_objectives_rank_by_nsga2_and_report_the_front(tmp_path, one_thread):
    from evo_attention.evolution import Evolution
    from evo_attention.objectives import values_of, pareto_fronts
    from evo_attention.reporting import report_text, report_html, front_table
    cfg = ref.config(objectives='perplexity,params', n_generations=2, finalists=2, final_replicates=1)
    evo = Evolution(cfg, data=ref.data(), run_dir=tmp_path / 'run', progress=False)
    evo.run()
    vals = [values_of(i, cfg) for i in evo.population]
    first = pareto_fronts(vals)[0]
    assert sorted(first) == list(range(len(first)))          # the ranked population starts with its front
    fin = json.loads((tmp_path / 'run' / 'finalists.json').read_text())
    assert fin['objectives'] == ['perplexity', 'params'] and fin['front']
    finalists = [g['gene'] for g in fin['genes'] if g['role'] == 'finalist']
    assert finalists == [f['gene'] for f in fin['front']][:2]    # the front goes to the finalist stage
    t = front_table(tmp_path / 'run')
    assert (t['front'] == 1).sum() == len(fin['front']) and t['baseline'].any()
    txt = report_text(tmp_path / 'run')
    assert 'Front of perplexity, params' in txt and 'on the first front' in txt
    doc = report_html(tmp_path / 'run', tmp_path / 'report.html').read_text()
    assert 'Front of perplexity, params' in doc and 'alt="Front"' in doc

@pytest.mark.slow
def test_strategies_resume_to_the_same_search_on_the_table(tmp_path):
    """aging and random search (and the GA's options) killed mid-search and resumed breed what an
    uninterrupted search breeds: every random number comes from the saved rng."""
    from evo_attention.config import preset_config
    from evo_attention.data import get_data
    from evo_attention.evolution import Evolution
    from evo_attention.tabular import TableEvaluation, table_space
    table = TableEvaluation()
    class Stop(Exception): pass
    def stop_after(n):
        seen = []
        def cb(event, evo, **kw):
            if event == 'evaluated':
                seen.append(1)
                if len(seen) == n: raise Stop
        return cb
    for kw in (dict(strategy='aging'), dict(strategy='random'),
               dict(strategy='ga', informed_init=True, adaptive_mutation=True)):
        cfg = preset_config('smoke', device='cpu', finalists=0, n_generations=4, **kw)
        data = get_data('induction', vocab_size=cfg.vocab_size, max_seq_len=cfg.max_seq_len)
        run = lambda d, cb=None: Evolution(cfg, data=data, search_space=table_space(table), run_dir=d,
                                           progress=False, evaluate=table, callback=cb)
        straight = run(tmp_path / f"{kw['strategy']}-straight"); straight.run()
        with pytest.raises(Stop): run(tmp_path / f"{kw['strategy']}-killed", stop_after(11)).run()
        resumed = run(tmp_path / f"{kw['strategy']}-killed"); resumed.run()
        strip = lambda evo: [(r['gene'], r['generation'], r['operator'], r['parents']) for r in evo.records]
        assert strip(resumed) == strip(straight)
        ops = {r['operator'].split('+')[0] for r in straight.records if r['role'] == 'population'}
        assert ops <= {'random', 'informed', 'crossover', 'copy', 'aging'}
        if kw['strategy'] == 'aging': assert 'aging' in ops and 'crossover' not in ops
        if kw['strategy'] == 'random': assert ops == {'random'}
        if kw.get('informed_init'): assert 'informed' in ops

def test_command_line_form_and_experiment_file_take_strategy_and_objectives(tmp_path, capsys):
    from evo_attention.cli import _parser, experiment_from_args, main
    from evo_attention.experiment import write_experiment, load_experiment, ExperimentError
    from evo_attention.widgets import EvolutionForm
    args = _parser().parse_args(['evolve', '--strategy', 'aging', '--objectives', 'perplexity,params',
                                 '--tournament-size', '4', '--informed-init', '--adaptive-mutation'])
    cfg = experiment_from_args(args).config
    assert (cfg.strategy, cfg.objectives, cfg.tournament_size, cfg.informed_init, cfg.adaptive_mutation) == \
           ('aging', ('perplexity', 'params'), 4, True, True)
    assert main(['evolve', '--objectives', 'perplexity,memory', '--out', str(tmp_path / 'x')]) == 2
    assert 'objectives must be distinct names from perplexity, params, peak_memory' in capsys.readouterr().err
    exp = experiment_from_args(args)
    path = write_experiment(tmp_path / 'e.yaml', cfg, exp.space, 'induction', 'smoke')
    again = load_experiment(path).config
    assert (again.strategy, again.objectives) == ('aging', ('perplexity', 'params'))
    path.write_text(path.read_text().replace('strategy: aging', 'strategy: evolution'))
    with pytest.raises(ExperimentError, match="'evolution' is not a strategy option; allowed: ga, aging, random"):
        load_experiment(path)
    form = EvolutionForm()
    form.ga['strategy'].value = 'random'; form.ga['objectives'].value = ('perplexity', 'kv_cache_bytes')
    assert (form.config().strategy, form.config().objectives) == ('random', ('perplexity', 'kv_cache_bytes'))
