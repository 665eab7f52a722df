"`evo-attention report` and `options`, and the analysis report, on finished and partial run folders."
import contextlib, io, inspect, json, math, re
from pathlib import Path
import pytest
from conftest import cli, TINY
from evo_attention.cli import main
from evo_attention.config import preset_config
from evo_attention.data import synthetic_task
from evo_attention.evolution import Evolution
from evo_attention.gene import AttentionGene, SearchSpace
from evo_attention.analysis import genes_table as genes_table_of, load_run, finalists_table, ablations_table, verdicts, simulated_evaluate
from evo_attention.reporting import report_text, report_html
from evo_attention import options, stats

PLANTED = {'sparsemax': -0.05, 'sigmoid': 0.04}      # normalization effects the fake trainings carry

fake_evaluate = simulated_evaluate({'normalization': PLANTED})   # a shared luck per replicate, as paired seeds give

def interrupted_after(n):
    "A fake evaluate interrupted (as by Ctrl-C) at its (n+1)-th training."
    calls = []
    def evaluate(*a, **kw):
        if len(calls) == n: raise KeyboardInterrupt
        calls.append(1); return fake_evaluate(*a, **kw)
    return evaluate

CFG = preset_config('smoke', device='cpu', population_size=6, n_generations=3)   # finalists=2, final_replicates=2, ablations

def search(folder, evaluate=fake_evaluate):
    data = synthetic_task('induction', 16, 16, n_train=32, n_valid=8)
    try: Evolution(CFG, data=data, search_space=SearchSpace.original(), run_dir=folder, progress=False, evaluate=evaluate).run()
    except KeyboardInterrupt: pass
    return folder

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp('runs')
    n_search = 1 + CFG.population_size + (CFG.n_generations - 1) * (CFG.population_size - CFG.elite_size)
    return dict(finished=search(base / 'finished'),
                in_search=search(base / 'in_search', interrupted_after(4)),                # no generation finished
                in_finalists=search(base / 'in_finalists', interrupted_after(n_search + 4)))   # finalist stage half done

def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()

def check_html(path: Path, finalists: bool):
    doc = path.read_text(encoding='utf-8')
    assert doc.startswith('<!DOCTYPE html>') and '<style>' in doc
    assert re.findall(r'(?:src|href)\s*=\s*["\']?(?!data:)[^"\'\s>]+', doc) == []      # nothing fetched from elsewhere...
    assert set(re.findall(r'https?://[^\s\'"<>]+', doc)) <= {'http://www.w3.org/2000/svg'}   # (the SVG namespace: a name, not a fetch)
    assert '<script' not in doc
    assert doc.count('<img ') == doc.count('src="data:image/png;base64,') >= 2
    assert doc.count('<svg ') == (0 if 'No finished generation yet' in doc else 1)   # the lineage, inline: opens offline
    if finalists: assert '<h3>Finalists</h3>' in doc and '<table' in doc
    return doc

def test_report_on_a_finished_run(runs, tmp_path):
    folder = runs['finished']
    r = load_run(folder)
    assert r.finalists['complete'] and r.ablations['complete']
    rc, text, _ = run_cli('report', folder)
    assert rc == 0
    for title in ('Finalists on fresh seeds', 'Knock-out ablations of the winner', 'Evolution timeline', 'Top 10 mechanisms',
                  'Baseline comparison', 'Component analysis', 'Diversity per generation', 'Lineage of the winner'):
        assert title in text, title
    assert 'DataFrame' not in text and '<IPython' not in text and '\n...' not in text
    for s in verdicts(r): assert s in text                               # the verdicts in words
    ft = finalists_table(r)
    for gene in ft['gene']: assert gene in text                          # full gene ids: nothing cut off
    # the planted -5% of sparsemax: a sparsemax finalist is called better, and knocking sparsemax out hurts
    fin = ft[ft['role'] == 'finalist']
    assert all(v == 'better' for g, v in zip(fin['gene'], fin['verdict']) if 'sparsemax' in g)
    at = ablations_table(r).set_index('component')
    if 'normalization' in at.index and r.ablations['winner'].split('|')[1] == 'sparsemax':
        assert at.loc['normalization', 'effect_pct'] > 3 and not at.loc['normalization', 'verdict'].startswith('hurt')
    rc, md, _ = run_cli('report', folder, '--markdown')
    assert rc == 0 and '| gene | role | search rank |' in md and '```mermaid\nflowchart TD' in md
    rc, said, _ = run_cli('report', folder, '--html', tmp_path / 'report.html')
    assert rc == 0 and said.strip() == f"wrote {tmp_path / 'report.html'}"
    doc = check_html(tmp_path / 'report.html', finalists=True)
    # finalists, knock-outs, the ladder's two, evolution, components, component importance, parallel
    # coordinates (lineage: SVG)
    assert doc.count('src="data:image/png;base64,') == 8 and 'Why a gene wins' in doc
    assert stats.method_sentence() in doc and 'is better than' in doc and 'induction' in doc   # method, verdicts, data
    assert 'final_replicates=2' in doc                                    # the settings

def test_report_on_a_partial_search(runs, tmp_path):
    folder = runs['in_search']
    r = load_run(folder)
    assert len(r.history) == 4 and r.populations == [] and r.finalists is None and r.summary == {}
    rc, text, _ = run_cli('report', folder)
    assert rc == 0 and '0 of 3 generations done' in text and 'The finalist stage has not run yet' in text
    assert 'No finished generation yet' in text
    rc, md, _ = run_cli('report', folder, '--markdown')
    assert rc == 0 and 'no finished generation yet' in md
    rc, _, _ = run_cli('report', folder, '--html', tmp_path / 'partial.html')
    assert rc == 0
    check_html(tmp_path / 'partial.html', finalists=False)

def test_report_during_the_finalist_stage(runs, tmp_path):
    folder = runs['in_finalists']
    r = load_run(folder)
    assert r.finalists is not None and not r.finalists['complete'] and r.ablations is None
    assert any(p is None for g in r.finalists['genes'] for p in g['perplexities'])    # trainings still to come
    rc, text, _ = run_cli('report', folder)
    assert rc == 0 and 'finalist stage: in progress' in text and 'The stage is not complete' in text
    ft = finalists_table(r)
    assert list(ft['replicates']) == [sum(p is not None for p in g['perplexities']) for g in r.finalists['genes']]
    rc, _, _ = run_cli('report', folder, '--html', tmp_path / 'half.html')
    check_html(tmp_path / 'half.html', finalists=True)

def test_report_refuses_a_folder_that_is_not_a_run(tmp_path):
    rc, _, err = run_cli('report', tmp_path)
    assert rc == 2 and 'is not a run folder (it has no config.json)' in err
    rc, _, err = run_cli('report', tmp_path / 'missing')
    assert rc == 2 and 'does not exist' in err and not (tmp_path / 'missing').exists()

def test_options_lists_every_registered_option():
    rc, text, _ = run_cli('options')
    assert rc == 0
    lines = text.splitlines()
    regs = {id(v): v for v in vars(options).values() if isinstance(v, options.Registry)}.values()
    assert {r.component for r in regs} >= {'similarity', 'normalization', 'gating', 'temperature'}
    sections, current = {}, None                      # option lines under each component's header
    for l in lines:
        if l and not l.startswith(' '): current = l.split(' (')[0]
        elif current: sections.setdefault(current, []).append(l)
    for reg in regs:
        assert any(l.startswith(f'{reg.component} (') for l in lines)
        for name in reg.names():                      # a name may be an option of two components (learned)
            line = next(l for l in sections[reg.component] if l[4:].split(' ')[0] == name)
            assert (line[2] == '*') == (name in SearchSpace().options(reg.component)), line
            doc = inspect.getdoc(reg[name])
            if doc: assert doc.splitlines()[0] in line
    sparse = next(l for l in lines if l[4:].startswith('sparsemax '))
    assert sparse.startswith('  * ')                                      # searched by default
    entmax = next(l for l in lines if l[4:].startswith('entmax15 '))
    assert entmax.startswith('  * ') and '1.5-entmax' in entmax          # searched by default, with its description
    stick = next(l for l in lines if l[4:].startswith('stick_breaking '))
    assert stick.startswith('    ') and 'stick' in stick.lower()          # opt-in

def test_real_search_then_report(tmp_path):
    "A real (tiny) search with a finalist stage and knock-outs, through the installed command, then its report."
    out = tmp_path / 'run'
    p = cli('evolve', *TINY, '--population', '3', '--generations', '2', '--elites', '1', '--steps', '6', '--finalists', '1',
            '--final-replicates', '2', '--ablations', '--out', out)
    assert p.returncode == 0, p.stderr
    assert (out / 'finalists.json').exists() and (out / 'ablations.json').exists()
    p = cli('report', out, '--html', tmp_path / 'r.html', '--markdown')
    assert p.returncode == 0, p.stderr
    assert 'Finalists on fresh seeds' in p.stdout and '| gene | role |' in p.stdout
    check_html(tmp_path / 'r.html', finalists=True)

def test_report_on_an_older_run_folder(runs, tmp_path):
    "Folders written before finalists existed: populations.json as bare lists, no lineage.json, no replicate in the history."
    import shutil
    old = tmp_path / 'old'
    shutil.copytree(runs['finished'], old)
    for f in ('finalists.json', 'ablations.json', 'lineage.json'): (old / f).unlink()
    pops = json.loads((old / 'populations.json').read_text())
    (old / 'populations.json').write_text(json.dumps([g['population'] for g in pops]))
    lines = [json.loads(l) for l in (old / 'history.jsonl').read_text().splitlines()]
    lines = [{k: v for k, v in l.items() if k != 'replicate'} for l in lines if l.get('role') in ('population', 'baseline')]
    (old / 'history.jsonl').write_text(''.join(json.dumps(l) + '\n' for l in lines))
    r = load_run(old)
    assert [g['generation'] for g in r.populations] == list(range(CFG.n_generations))
    assert set(r.history['replicate']) == {0} and not (genes_table_of(r)['gene'] == r.summary['baseline_gene']).any()
    text = report_text(r)
    assert 'The finalist stage has not run yet' in text and 'Lineage of the winner' in text
    assert ' ← ' in text or '(random)' in text                            # the family tree, from populations.json
    check_html(report_html(r, tmp_path / 'old.html'), finalists=False)
