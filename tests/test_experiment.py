"Experiment files: every problem of a broken file with its line and the allowed values; round trips; `validate` and `evolve --spec` as installed."
import textwrap
from dataclasses import fields
from pathlib import Path
import pytest
from conftest import ROOT, cli
from evo_attention import gene
from evo_attention.config import Config, PRESETS, preset_config
from evo_attention.gene import SearchSpace
from evo_attention.options import GATINGS, NORMALIZATIONS
from evo_attention.experiment import (DataSource, Experiment, ExperimentError, experiment_yaml, load_experiment,
                                      space_lists, write_experiment)

CONFIG_KEYS = ', '.join(f.name for f in fields(Config))

def problems(tmp_path, text, name='exp.yaml'):
    "The problems `load_experiment` names for `text`, with the file's path taken off each line."
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip('\n'), encoding='utf-8')
    with pytest.raises(ExperimentError) as e: load_experiment(p)
    assert str(e.value) == '\n'.join(e.value.problems)
    assert all(s.startswith(f'{p}:') for s in e.value.problems)
    return [s[len(f'{p}:'):] for s in e.value.problems]

BROKEN = {
    'unknown setting, with a suggestion': ("""
        preset: smoke
        config:
          learnin_rate: 0.01
        """, [f"3: config.learnin_rate: unknown key 'learnin_rate' (did you mean learning_rate?); allowed: {CONFIG_KEYS}"]),
    'unknown section': ("""
        preset: smoke
        serach_space:
          similarity: [dot]
        """, ["2: serach_space: unknown key 'serach_space' (did you mean search_space?); allowed: preset, config, search_space, data"]),
    'a string for an integer': ("""
        preset: smoke
        config:
          train_steps: many
        """, ["3: config.train_steps: got 'many' (a string); allowed: an integer"]),
    'a boolean for an integer, a float for an integer, no value': ("""
        preset: smoke
        config:
          population_size: true
          n_layers: 2.5
          seed:
        """, ["3: config.population_size: got true (a boolean); allowed: an integer",
              "4: config.n_layers: got 2.5 (a number); allowed: an integer",
              "5: config.seed: no value given; allowed: an integer"]),
    'Config.validate, each at its own line': ("""
        preset: smoke
        config:
          n_heads: 0
          hurdle: pdhh
          elite_size: 9
          vocab_size: 3
        """, ["3: config.n_heads: got 0; allowed: a positive integer",
              "4: config.hurdle: 'pdhh' is not allowed (did you mean pdh?); allowed: none, loss_ratio, pdh",
              "5: config.elite_size: got 9; allowed: an integer in [0, population_size=6)",
              "6: config.vocab_size: got 3; allowed: None (every word) or an integer >= 4"]),
    'a rule between two settings, at the line of the first it names': ("""
        preset: cpu
        config:
          n_heads: 3
          d_model: 100
        """, ["4: config.d_model: d_model (100) must be divisible by n_heads (3)"]),
    'unknown option, with the registered ones': ("""
        preset: smoke
        search_space:
          normalization: [softmax, sparsemx]
        """, ["3: search_space.normalization[1]: 'sparsemx' is not a normalization option (did you mean sparsemax?); "
              f"allowed: {', '.join(NORMALIZATIONS.names())}"]),
    'an empty option list': ("""
        preset: smoke
        search_space:
          gating: []
        """, [f"3: search_space.gating: needs at least one option; allowed: {', '.join(GATINGS.names())}"]),
    'a dropout range upside down, and one with one end': ("""
        preset: smoke
        search_space:
          dropout: [0.3, 0.1]
        """, ["3: search_space.dropout: [0.3, 0.1] is not a range; allowed: [low, high] with 0 <= low <= high < 1"]),
    'a dropout range with one end, use_bias not booleans': ("""
        preset: smoke
        search_space:
          dropout: [0.1]
          use_bias: [1]
        """, ["3: search_space.dropout: [0.1] is not a range; allowed: [low, high] with 0 <= low <= high < 1",
              "4: search_space.use_bias[0]: got 1 (an integer); allowed: true or false"]),
    'a preset that does not exist': ("""
        config:
          seed: 1
        preset: smok
        """, ["3: preset: preset 'smok' does not exist (did you mean smoke?); allowed: smoke, cpu, paper"]),
    'no preset': ("""
        config:
          seed: 1
        """, ["1: preset: missing (every experiment file names the preset it starts from); allowed: smoke, cpu, paper"]),
    'a data set that is not built in': ("""
        preset: smoke
        data: inductoin
        """, ["2: data: 'inductoin' is not a built-in data set (did you mean induction?); allowed: wikitext2, induction, "
              "associative_recall (or a mapping with path, or with train_file and valid_file)"]),
    'a built-in data set and files': ("""
        preset: smoke
        data:
          source: wikitext2
          train_file: train.txt
          valid_file: valid.txt
        """, ["2: data: source and train_file + valid_file are both given; allowed: one of source (a built-in name), path, "
              "or train_file with valid_file",
              "4: data.train_file: {tmp}/train.txt does not exist; allowed: an existing text file",
              "5: data.valid_file: {tmp}/valid.txt does not exist; allowed: an existing text file"]),
    'a training file alone, an unknown encoding, an unknown data key': ("""
        preset: smoke
        data:
          train_file: exp.yaml
          encoding: utf9
        """, ["3: data.train_file: train_file without valid_file; allowed: train_file and valid_file together",
              "4: data.encoding: unknown encoding 'utf9'; allowed: a Python codec name such as utf-8, latin-1, cp1252"]),
    'YAML syntax, at its line': ("""
        preset: smoke
        config:
          seed: 1
          train_steps: [3
        search_space: {}
        """, ["5: yaml: not valid YAML: expected ',' or ']', but got ':'"]),
    'a key given twice': ("""
        preset: smoke
        config:
          seed: 1
          seed: 2
        """, ["4: config.seed: given twice (also on line 3); allowed: each key once"]),
    'not a mapping': ("""
        - preset
        - smoke
        """, ["1: (file): the file holds a list, not keys and values; allowed: a mapping with preset, config, search_space, data"]),
    'an amp mode that does not exist, a device that is not one': ("""
        preset: smoke
        config:
          amp: fp8
          device: tpu
        """, ["3: config.amp: 'fp8' is not allowed; allowed: auto, fp32, fp16, bf16",
              "4: config.device: 'tpu' is not allowed (did you mean cpu?); allowed: cpu, cuda, cuda:N, mps"]),
}

@pytest.mark.parametrize('case', list(BROKEN))
def test_broken_file(tmp_path, case):
    text, want = BROKEN[case]
    assert problems(tmp_path, text) == [w.format(tmp=tmp_path) for w in want]

def test_every_problem_at_once_in_line_order(tmp_path):
    got = problems(tmp_path, """
        preset: smoke
        config:
          learnin_rate: 0.01
          train_steps: many
          n_heads: 0
        search_space:
          similarity: [dot, cosin]
          gating: []
        data: inductoin
        extra: 1
        """)
    assert [int(s.split(':')[0]) for s in got] == [3, 4, 5, 7, 8, 9, 10]
    assert got[3].startswith("7: search_space.similarity[1]: 'cosin' is not a similarity option (did you mean cosine?)")

@pytest.mark.parametrize('component', list(gene._COMPONENTS))
def test_every_registered_component_is_checked_against_its_registry(tmp_path, component):
    reg = gene._COMPONENTS[component]
    got = problems(tmp_path, f"preset: smoke\nsearch_space:\n  {component}: [{reg.names()[0]}, not_an_option]\n")
    assert got == [f"3: search_space.{component}[1]: 'not_an_option' is not a {component} option; allowed: {', '.join(reg.names())}"]
    ok = tmp_path / 'ok.yaml'
    ok.write_text(f"preset: smoke\nsearch_space:\n  {component}: [{', '.join(reg.names())}]\n")
    assert load_experiment(ok).space.options(component) == reg.names()

def test_missing_experiment_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'): load_experiment(tmp_path / 'none.yaml')

@pytest.mark.parametrize('preset', list(PRESETS))
def test_a_preset_alone_is_the_preset(tmp_path, preset):
    p = tmp_path / 'p.yaml'; p.write_text(f'preset: {preset}\n')
    e = load_experiment(p)
    assert (e.config, e.space, e.data) == (preset_config(preset), SearchSpace.of_preset(preset), DataSource.of(PRESETS[preset]['data']))

def test_examples_are_their_presets(tmp_path):
    e = load_experiment(ROOT / 'examples' / 'smoke.yaml')
    assert (e.config, e.space, e.data, e.preset) == (preset_config('smoke'), SearchSpace.of_preset('smoke'), DataSource('induction'), 'smoke')
    (tmp_path / 'wikitext-2').mkdir()
    for split in ('train', 'valid'): (tmp_path / 'wikitext-2' / f'{split}.txt').write_text(' = Robert Boulter = \n')
    (tmp_path / 'cpu.yaml').write_text((ROOT / 'examples' / 'cpu.yaml').read_text())
    e = load_experiment(tmp_path / 'cpu.yaml')
    assert (e.config, e.space) == (preset_config('cpu'), SearchSpace.of_preset('cpu'))
    assert e.data == DataSource(train_file=str(tmp_path / 'wikitext-2' / 'train.txt'), valid_file=str(tmp_path / 'wikitext-2' / 'valid.txt'))

def _arch_space() -> dict:
    "A narrowed space over every registered component (architecture ones included): the first two options of each."
    return {c: tuple(reg.names()[:2]) for c, reg in gene._COMPONENTS.items()}

def round_trip_cases(tmp_path):
    (tmp_path / 't.txt').write_text('a b c\n' * 30); (tmp_path / 'v.txt').write_text('c b a\n' * 10)
    return [
        (preset_config('smoke'), SearchSpace(), 'induction'),
        (preset_config('cpu', train_steps=50, learning_rate=1e-5, vocab_size=None, hurdle='pdh', together=True),
         SearchSpace(similarity=('cosine', 'dot'), use_bias=(False,), dropout=(0.05, 0.2)), 'wikitext2'),
        (preset_config('paper', seed=3, executor='ray', address='auto'), SearchSpace.original(),
         DataSource(train_file=str(tmp_path / 't.txt'), valid_file=str(tmp_path / 'v.txt'), encoding='latin-1')),
        (preset_config('smoke', moe_experts=8, moe_top_k=1, window_size=4), SearchSpace(**_arch_space()), {'path': str(tmp_path / 't.txt')}),
    ]

def test_round_trip(tmp_path):
    for i, (config, space, data) in enumerate(round_trip_cases(tmp_path)):
        path = write_experiment(tmp_path / f'run{i}' / 'experiment.yaml', config, space, data)
        e = load_experiment(path)
        assert e == Experiment(config, space, DataSource.of(data))
        assert (e.config, space_lists(e.space), e.data) == (config, space_lists(space), DataSource.of(data))
        assert load_experiment(write_experiment(path, e.config, e.space, e.data)) == e    # and again
    other = Experiment(preset_config('smoke'), SearchSpace(gating=('none',)), DataSource('induction'))
    assert load_experiment(write_experiment(tmp_path / 'o.yaml', preset_config('smoke'), SearchSpace(), 'induction')) != other

def test_written_file_names_only_changed_settings_and_explicit_lists():
    text = experiment_yaml(preset_config('cpu', train_steps=50), SearchSpace(), 'induction')
    assert 'preset: cpu\nconfig:\n  train_steps: 50\nsearch_space:\n' in text
    for c in gene._COMPONENTS: assert f"\n  {c}: [{', '.join(SearchSpace().options(c))}]\n" in text
    assert text.endswith('data: induction\n')

# -- the installed command ------------------------------------------------------------------------------------

def test_validate_command(tmp_path):
    ok = tmp_path / 'ok.yaml'; ok.write_text('preset: smoke\nconfig:\n  train_steps: 20\n')
    r = cli('validate', ok)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f'{ok}: valid: preset smoke, 1 setting(s) changed: train_steps; data induction;') and r.stdout.count('\n') == 1
    bad = tmp_path / 'bad.yaml'; bad.write_text('preset: smoke\nconfig:\n  train_steps: many\n  seed: x\nsearch_space:\n  gating: [gate]\n')
    r = cli('validate', bad)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        f"{bad}:3: config.train_steps: got 'many' (a string); allowed: an integer",
        f"{bad}:4: config.seed: got 'x' (a string); allowed: an integer",
        f"{bad}:6: search_space.gating[0]: 'gate' is not a gating option (did you mean head_gate?); allowed: {', '.join(GATINGS.names())}"]
    r = cli('validate', tmp_path / 'none.yaml')
    assert r.returncode == 2 and 'none.yaml does not exist' in r.stderr

def test_evolve_spec_writes_experiment_yaml_that_runs_it_again(tmp_path):
    spec = tmp_path / 'tiny.yaml'
    spec.write_text(textwrap.dedent("""
        preset: smoke
        config:
          train_steps: 3
          population_size: 3
          n_generations: 1
          finalists: 0
          ablations: false
          batch_size: 8
        search_space:
          similarity: [dot, cosine]
          normalization: [softmax]
        data: induction
        """))
    run = tmp_path / 'run'
    tiny = ['--device', 'cpu', '--seq-len', '16', '--d-model', '16', '--n-heads', '2', '--vocab-size', '16', '--no-progress']
    r = cli('evolve', '--spec', spec, '--out', run, '--steps', '2', *tiny)        # a flag on top of the file
    assert r.returncode == 0, r.stderr
    assert 'trainings' in r.stdout and f'Run folder: {run}' in r.stdout
    e = load_experiment(run / 'experiment.yaml')
    assert e.config == Config(**{**PRESETS['smoke']['config'], 'train_steps': 2, 'population_size': 3, 'n_generations': 1,
                                 'finalists': 0, 'ablations': False, 'batch_size': 8, 'device': 'cpu', 'max_seq_len': 16,
                                 'd_model': 16, 'n_heads': 2, 'vocab_size': 16})
    assert (e.space.similarity, e.space.normalization, e.data) == (('dot', 'cosine'), ('softmax',), DataSource('induction'))
    # the folder's file resumes its own search: nothing is trained again
    r2 = cli('evolve', '--spec', run / 'experiment.yaml', '--out', run, '--resume', '--no-progress')
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout.split(';')[1].split(',')[:2] == r.stdout.split(';')[1].split(',')[:2]     # the same trainings and steps
    r3 = cli('evolve', '--spec', spec, '--preset', 'cpu', '--out', tmp_path / 'x')
    assert r3.returncode == 2 and '--preset cannot be combined with --spec' in r3.stderr
    bad = tmp_path / 'bad.yaml'; bad.write_text('preset: smoke\nconfig:\n  train_steps: 0\n')
    r4 = cli('evolve', '--spec', bad, '--out', tmp_path / 'y')
    assert r4.returncode == 2 and r4.stderr.splitlines() == [f'{bad}:3: config.train_steps: got 0; allowed: a positive integer']
    assert not (tmp_path / 'y').exists()

def test_evolve_without_spec_writes_experiment_yaml_too(tmp_path):
    run = tmp_path / 'run'
    r = cli('evolve', '--data', 'induction', '--steps', '2', '--population', '2', '--elites', '1', '--generations', '1', '--finalists', '0',
            '--no-ablations', '--no-baseline', '--similarity', 'dot', '--device', 'cpu', '--seq-len', '16', '--d-model', '16',
            '--batch-size', '8', '--vocab-size', '16', '--no-progress', '--out', run)
    assert r.returncode == 0, r.stderr
    e = load_experiment(run / 'experiment.yaml')
    assert (e.preset, e.config.population_size, e.config.train_steps, e.space.similarity, e.data) == ('smoke', 2, 2, ('dot',), DataSource('induction'))
