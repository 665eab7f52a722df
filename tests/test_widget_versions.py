"""The attention picker in a real IPython kernel under ipywidgets 7 (Colab's) and 8, with no browser.

The test plays the front end's part over the Jupyter protocol: it runs the cells that build the picker,
reads the widgets the kernel opens (their comm_open messages), then sends the updates a browser sends
when a slider is moved or another gene picked, and checks that each one draws a new figure into the
picker's Output (display_data under the update's message, with the Output's msg_id set to it).
ipywidgets 7 is installed with pip (--target, no dependencies) into the test's folder and put first
on the kernel's PYTHONPATH; without the package index the test skips.
"""
import os, subprocess, sys
import pytest
from conftest import ROOT, PICKER_CELLS, PICKER_OFFERS

jupyter_client = pytest.importorskip('jupyter_client')

def _ipywidgets7(tmp_path) -> str:
    "A folder holding ipywidgets 7 (and its ipython_genutils), installed by pip; skips without an index."
    target = tmp_path / 'ipywidgets7'
    r = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--no-deps',
                        '--target', str(target), 'ipywidgets==7.*', 'ipython-genutils==0.2.*'],
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

def _execute(kc, code) -> list:
    msgs = _send(kc, kc.session.msg('execute_request', {'code': code, 'silent': False, 'store_history': True,
                                                        'user_expressions': {}, 'allow_stdin': False, 'stop_on_error': True}))
    assert not [m for m in msgs if m['msg_type'] == 'error'], [m['content'] for m in msgs if m['msg_type'] == 'error']
    return msgs

def _update(kc, comm_id, state) -> list:
    "What a browser sends when the user changes a widget."
    return _send(kc, kc.session.msg('comm_msg', {'comm_id': comm_id,
                                                 'data': {'method': 'update', 'state': state, 'buffer_paths': []}}))

def _images(msgs) -> list:
    return [m['content']['data']['image/png'] for m in msgs
            if m['msg_type'] == 'display_data' and 'image/png' in m['content']['data']]

def _drew_into(msgs, output_id, parent_id) -> bool:
    "The Output widget was pointed at `parent_id`'s outputs (how the front end routes them into it)."
    return any(m['msg_type'] == 'comm_msg' and m['content']['comm_id'] == output_id
               and m['content']['data'].get('state', {}).get('msg_id') == parent_id for m in msgs)

@pytest.mark.slow
@pytest.mark.parametrize('major', [7, 8])
def test_attention_picker_draws_and_redraws_in_a_kernel(tmp_path, major):
    path = [_ipywidgets7(tmp_path)] if major == 7 else []
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(path + [str(ROOT), os.environ.get('PYTHONPATH', '')])}
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name='python3', env=env, cwd=str(tmp_path))
    try:
        version = ''.join(m['content'].get('text', '') for m in _execute(kc, 'import ipywidgets; print(ipywidgets.__version__)'))
        assert version.split('.')[0] == str(major), version
        for cell in PICKER_CELLS[:-1]: _execute(kc, cell)
        built = _execute(kc, PICKER_CELLS[-1])
        opened = {m['content']['comm_id']: m['content']['data']['state'] for m in built if m['msg_type'] == 'comm_open'}
        named = {(s['_model_name'], s.get('description')): cid for cid, s in opened.items()}
        gene, head, out = named['DropdownModel', 'gene'], named['IntSliderModel', 'head'], named['OutputModel', None]
        assert ('IntSliderModel', 'layer') in named and ('VBoxModel', None) in named
        assert opened[gene]['_options_labels'] in (PICKER_OFFERS, tuple(PICKER_OFFERS))
        first = _images(built)
        assert len(first) == 1                                           # drawn once, not again at the cell's end
        assert _drew_into(built, out, built[0]['parent_header']['msg_id'])
        assert any('application/vnd.jupyter.widget-view+json' in m['content'].get('data', {})
                   for m in built if m['msg_type'] in ('execute_result', 'display_data')), \
            [m['msg_type'] for m in built]                               # the picker itself is shown as a widget
        moved = _update(kc, head, {'value': 1})                          # the head slider moved to 1
        assert not [m for m in moved if m['msg_type'] == 'error']
        assert len(_images(moved)) == 1 and _images(moved) != first
        assert _drew_into(moved, out, moved[0]['parent_header']['msg_id'])
        picked = _update(kc, gene, {'index': 1})                         # the second gene picked
        assert not [m for m in picked if m['msg_type'] == 'error']
        assert len(_images(picked)) == 1 and _images(picked)[0] not in first + _images(moved)
    finally:
        kc.stop_channels(); km.shutdown_kernel(now=True)
