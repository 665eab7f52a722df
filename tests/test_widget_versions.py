"""The attention picker and the Colab form in a real IPython kernel under ipywidgets 7 (Colab's)
and 8, with no browser.

The test plays the front end's part over the Jupyter protocol: it runs the cells that build the
picker, reads the widgets the kernel opens (their comm_open messages), then sends the updates a
browser sends when a slider is moved or another gene picked, and checks that each one draws a new
figure into the picker's Output (display_data under the update's message, with the Output's msg_id
set to it); the form is shown, and a click on its Start button prepares the run folder.
ipywidgets 7 is installed with pip (--target, no dependencies) into the test's folder
and put first on the kernel's PYTHONPATH; without the package index the test skips.
"""
import os, subprocess, sys
import pytest
from conftest import ROOT, PICKER_CELLS, PICKER_OFFERS

jupyter_client = pytest.importorskip('jupyter_client')
WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json'

def _ipywidgets7(tmp_path) -> str:
    "A folder holding ipywidgets 7 (and ipython_genutils) installed by pip; skips without an index."
    target = tmp_path / 'ipywidgets7'
    r = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--disable-pip-version-check',
                        '--retries', '1', '--timeout', '20',                 # no index: skip soon
                        '--no-deps', '--target', str(target),
                        'ipywidgets==7.*', 'ipython-genutils==0.2.*'],
                       capture_output=True, text=True, timeout=300)
    if r.returncode: pytest.skip(f'pip could not install ipywidgets 7: {r.stderr.strip()[-300:]}')
    return str(target)

def _send(kc, msg, timeout=120) -> list:
    "Send `msg` on the shell channel; the iopub messages it caused, until the kernel is idle again."
    kc.shell_channel.send(msg)
    got = []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m['parent_header'].get('msg_id') != msg['header']['msg_id']: continue
        if m['msg_type'] == 'status' and m['content']['execution_state'] == 'idle': return got
        got.append(m)

def _errors(msgs) -> list:
    return [m['content'] for m in msgs if m['msg_type'] == 'error']

def _execute(kc, code) -> list:
    "Run `code` in the kernel as a notebook cell; its iopub messages (none of them an error)."
    content = dict(code=code, silent=False, store_history=True, user_expressions={},
                   allow_stdin=False, stop_on_error=True)
    msgs = _send(kc, kc.session.msg('execute_request', content))
    assert not _errors(msgs), _errors(msgs)
    return msgs

def _update(kc, comm_id, state) -> list:
    "What a browser sends when the user changes a widget; the iopub messages (none an error)."
    data = {'method': 'update', 'state': state, 'buffer_paths': []}
    msgs = _send(kc, kc.session.msg('comm_msg', {'comm_id': comm_id, 'data': data}))
    assert not _errors(msgs), _errors(msgs)
    return msgs

def _images(msgs) -> list:
    return [m['content']['data']['image/png'] for m in msgs
            if m['msg_type'] == 'display_data' and 'image/png' in m['content']['data']]

def _drew_into(msgs, output_id) -> bool:
    "The Output widget was pointed at these messages' parent (so a front end shows them in it)."
    parent = msgs[0]['parent_header']['msg_id']
    return any(m['msg_type'] == 'comm_msg' and m['content']['comm_id'] == output_id
               and m['content']['data'].get('state', {}).get('msg_id') == parent for m in msgs)

@pytest.mark.slow
@pytest.mark.parametrize('major', [7, 8])
def test_attention_picker_draws_and_redraws_in_a_kernel(tmp_path, major):
    path = [_ipywidgets7(tmp_path)] if major == 7 else []
    path += [str(ROOT), os.environ.get('PYTHONPATH', '')]
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(path)}
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name='python3', env=env,
                                                     cwd=str(tmp_path))
    try:
        said = _execute(kc, 'import ipywidgets; print(ipywidgets.__version__)')
        version = ''.join(m['content'].get('text', '') for m in said)
        assert version.split('.')[0] == str(major), version
        for cell in PICKER_CELLS[:-1]: _execute(kc, cell)
        built = _execute(kc, PICKER_CELLS[-1])
        opened = {m['content']['comm_id']: m['content']['data']['state']
                  for m in built if m['msg_type'] == 'comm_open'}
        named = {(s['_model_name'], s.get('description')): cid for cid, s in opened.items()}
        gene, head = named['DropdownModel', 'gene'], named['IntSliderModel', 'head']
        out = named['OutputModel', None]
        assert ('IntSliderModel', 'layer') in named and ('VBoxModel', None) in named
        assert list(opened[gene]['_options_labels']) == PICKER_OFFERS
        assert any(WIDGET_VIEW in m['content'].get('data', {}) for m in built
                   if m['msg_type'] in ('execute_result', 'display_data'))   # shown as a widget
        first = _images(built)
        assert len(first) == 1 and _drew_into(built, out)    # once, not again at the cell's end
        moved = _update(kc, head, {'value': 1})                              # head slider to 1
        assert len(_images(moved)) == 1 and _images(moved) != first and _drew_into(moved, out)
        picked = _update(kc, gene, {'index': 1})                             # the second gene
        assert len(_images(picked)) == 1 and _images(picked)[0] not in first + _images(moved)
        assert _drew_into(picked, out)
        # the Colab form: it renders, and its Start button (clicked as a browser does) prepares
        form = _execute(kc, "from evo_attention.widgets import EvolutionForm\n"
                            "form = EvolutionForm('smoke', data='induction', device='cpu', "
                            "run_dir='form-run')\nform")
        assert any(WIDGET_VIEW in m['content'].get('data', {}) for m in form
                   if m['msg_type'] in ('execute_result', 'display_data'))
        start = next(m['content']['comm_id'] for m in form if m['msg_type'] == 'comm_open'
                     and m['content']['data']['state'].get('description') == 'Start')
        clicked = _send(kc, kc.session.msg('comm_msg', {'comm_id': start, 'data': {
            'method': 'custom', 'content': {'event': 'click'}}}))
        assert not _errors(clicked), _errors(clicked)
        said = [str(m['content']['data'].get('state', {}).get('value'))
                for m in clicked if m['msg_type'] == 'comm_msg']
        assert any('Now run the next cell' in v for v in said)
        assert (tmp_path / 'form-run').is_dir()                           # created, nothing trained
    finally:
        kc.stop_channels(); km.shutdown_kernel(now=True)
