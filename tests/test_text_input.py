"Text input: files that are not text are refused with what to do; a vocabulary of one-off words is warned about."
import random, warnings
import pytest
from conftest import TINY, cli
from evo_attention import load_text

def _random_bytes(path, n=50_000, seed=0):
    rng = random.Random(seed)
    path.write_bytes(bytes(rng.randrange(256) for _ in range(n)))
    return path

def test_random_bytes_refused(tmp_path):
    f = _random_bytes(tmp_path / 'noise.txt')
    with pytest.raises(ValueError) as e:
        load_text(f)
    msg = str(e.value)
    assert str(f) in msg and 'is not utf-8 text' in msg and 'byte offset' in msg and "encoding='latin-1'" in msg
    offset = int(msg.split('byte offset ')[1].split()[0])
    with pytest.raises(UnicodeDecodeError) as ue:                   # the offset is where decoding really fails
        f.read_bytes().decode('utf-8')
    assert offset == ue.value.start
    with pytest.raises(ValueError, match='looks binary'):           # decodable as latin-1, still not text
        load_text(f, encoding='latin-1')

def test_random_bytes_refused_by_the_cli(tmp_path):
    f = _random_bytes(tmp_path / 'noise.bin')
    args = list(TINY)
    args[args.index('--data') + 1] = str(f)
    r = cli('train', '--gene', 'dot|softmax|none|fixed', *args, '--steps', '2', timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(f) in r.stderr and 'byte offset' in r.stderr and 'perplexity' not in r.stdout

def test_latin1_refused_with_hint_then_accepted(tmp_path):
    text = '\n'.join(['Der Bär läuft über die Brücke.', 'Die Bäume stehen am Fluß.'] * 40)
    (tmp_path / 'de.txt').write_bytes(text.encode('latin-1'))
    with pytest.raises(ValueError) as e:
        load_text(tmp_path / 'de.txt')
    assert 'byte 0xe4 at byte offset 5 (line 1)' in str(e.value) and "encoding='latin-1'" in str(e.value)
    d = load_text(tmp_path / 'de.txt', encoding='latin-1')
    assert {'Bär', 'Fluß.'} <= set(d.vocab.stoi)
    assert d.vocab.itos == load_text(tmp_path / 'de.txt', encoding='cp1252').vocab.itos

def test_one_off_vocabulary_warns(tmp_path):
    (tmp_path / 'ids.txt').write_text('\n'.join(' '.join(f'id{i}_{j}' for j in range(8)) for i in range(200)))
    with pytest.warns(UserWarning, match=r'1,440 of the 1,440 distinct training words \(100%\) occur only once'):
        load_text(tmp_path / 'ids.txt')

def test_wikitext_valid_does_not_warn(wikitext_dir):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        d = load_text(wikitext_dir / 'valid.txt')
    assert d.vocab_size > 5000
