"Data sources through the command line: offline WikiText-2 fails fast, your own text works."
import json, shutil, time
from conftest import TINY, cli

def test_console_script_installed():
    assert shutil.which('evo-attention'), 'pip install -e . should install the evo-attention command'

def test_offline_wikitext2_fails_fast_with_help():
    t0 = time.time()
    r = cli('train', '--gene', 'dot|softmax|none|fixed', '--data', 'wikitext2', '--steps', '2', '--device', 'cpu',
            env={'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'HF_HOME': '/nonexistent-hf-home'})
    took = time.time() - t0
    assert r.returncode == 2, r.stdout + r.stderr
    assert 'could not be loaded' in r.stderr and 'built-in task' in r.stderr and '--train-file' in r.stderr
    assert took < 30, took   # seconds, Python start-up included (a hanging retry loop takes minutes)

def _write_corpus(folder, lines_train, lines_valid):
    folder.mkdir()
    (folder / 'train.txt').write_text('\n'.join(lines_train) + '\n')
    (folder / 'valid.txt').write_text('\n'.join(lines_valid) + '\n')

def test_own_text_folder_trains(tmp_path):
    words = 'the a cat dog sat ran on under mat tree'.split()
    import random
    rng = random.Random(0)
    sents = [' '.join(rng.choice(words) for _ in range(rng.randint(4, 12))) for _ in range(400)]
    _write_corpus(tmp_path / 'corpus', sents[:360], sents[360:])
    base = [a for a in TINY if a not in ('induction',)]
    base[base.index('--data') + 1:base.index('--data') + 1] = [str(tmp_path / 'corpus')]
    r = cli('train', '--gene', 'dot|sparsemax|output_gate|learned', *base, '--steps', '20', '--vocab-size', 'none', '--json')
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m['status'] == 'ok' and 1 < m['val_perplexity'] < 13   # 12 word types (10 + <unk>, <eos>): better than uniform
    assert m['params'] > m['non_embedding_params'] > 0 and m['tokens_per_sec'] > 0

def test_shared_wikitext_files(wikitext_dir):
    r = cli('train', '--gene', 'dot|softmax|none|fixed', '--train-file', wikitext_dir / 'valid.txt',
            '--valid-file', wikitext_dir / 'test.txt', '--steps', '3', '--seq-len', '32', '--batch-size', '4',
            '--eval-batch-size', '256', '--d-model', '32', '--device', 'cpu', '--no-progress', '--json', timeout=600)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m['status'] == 'ok' and m['params'] == 10000 * 32 + 32 * 32 + m['non_embedding_params']

def test_smoke_evolve_summary(tmp_path):
    r = cli('evolve', *TINY, '--steps', '10', '--population', '3', '--generations', '2', '--elites', '1', '--out', tmp_path / 'r')
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / 'r' / 'summary.json').read_text())
    assert {'best_gene', 'best_perplexity', 'evaluations', 'total_train_steps'} <= set(s) and s['finished']
    assert s['total_train_steps'] == 10 * s['evaluations']
    lad = json.loads((tmp_path / 'r' / 'ladder.json').read_text())          # the smoke preset ends with a tiny ladder
    assert lad['complete'] and [x['name'] for x in lad['stages']] == ['finalists', 'rung 1', 'rung 2']
    assert [x['scale']['train_steps'] for x in lad['stages']] == [10, 20, 20] and lad['stages'][2]['scale']['d_model'] == 32
