"""Notebooks in a real browser: JupyterLab on 127.0.0.1, headless Chromium driven by Playwright.

The Colab notebook: the form must render as real widgets; Start prepares the run folder (and trains
nothing); the next cell runs the (tiny) search, printing a line per training, and the evolution plot
appears. The attention picker: its dropdown and sliders render as widgets, the maps are drawn, and
moving the head slider or picking another gene draws new ones. Screenshots go to $EVO_SCREENSHOTS
(default: the test's temporary folder).
Needs Debian's chromium (/usr/bin/chromium) and the playwright package; .ci/run installs both
and sets EVO_REQUIRE_BROWSER=1, so that there a missing browser fails instead of skipping.
"""
import os, re, shutil, signal, socket, subprocess, sys, time
from contextlib import contextmanager
from pathlib import Path
import pytest
from conftest import ROOT, PICKER_CELLS, PICKER_OFFERS

CHROMIUM = os.environ.get('EVO_CHROMIUM', '/usr/bin/chromium')
if not Path(CHROMIUM).exists() or shutil.which('jupyter') is None:
    if os.environ.get('EVO_REQUIRE_BROWSER'): raise RuntimeError(f'{CHROMIUM} or jupyter is missing')
    pytest.skip('needs Debian chromium and jupyterlab', allow_module_level=True)
sync_api = pytest.importorskip('playwright.sync_api')
import nbformat

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@contextmanager
def jupyter_lab(tmp_path, notebooks: dict):
    "A JupyterLab server on 127.0.0.1 serving `notebooks` ({name: a path or an nbformat notebook})."
    root = tmp_path / 'lab'; root.mkdir()
    for name, nb in notebooks.items():
        if isinstance(nb, Path): shutil.copy(nb, root / name)
        else: nbformat.write(nb, str(root / name))
    port, token = _free_port(), 'evotest'
    env = {**os.environ, 'IN_TEST': '1', 'JUPYTER_RUNTIME_DIR': str(tmp_path / 'rt'), 'JUPYTERLAB_SETTINGS_DIR': str(tmp_path / 'settings'),
           'JUPYTERLAB_WORKSPACES_DIR': str(tmp_path / 'ws')}
    log = open(tmp_path / 'lab.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'jupyter', 'lab', '--no-browser', '--allow-root', '--ip=127.0.0.1', f'--port={port}',
                             f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={root}', '--LabApp.expose_app_in_browser=True',
                             '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate'],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(300):
            try: socket.create_connection(('127.0.0.1', port), timeout=0.2).close(); break
            except OSError: time.sleep(0.2)
        yield f'http://127.0.0.1:{port}', token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try: proc.wait(timeout=20)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL)
        log.close()

@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on 127.0.0.1 serving a copy of the Colab notebook."
    with jupyter_lab(tmp_path, {'colab.ipynb': ROOT / 'nbs' / 'colab.ipynb'}) as served:
        yield served                                                     # (url, token)

@contextmanager
def chromium(tmp_path):
    "A page of headless Chromium (Debian's) driven by Playwright."
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / 'chrome'), executable_path=CHROMIUM, headless=True,
            viewport={'width': 1280, 'height': 1400},
            args=['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update',
                  '--disable-sync'])
        try: yield ctx.new_page()
        finally: ctx.close()

def screenshots(tmp_path) -> Path:
    "Where screenshots go: $EVO_SCREENSHOTS, else the test's temporary folder."
    shots = Path(os.environ.get('EVO_SCREENSHOTS', tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    return shots

KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle'; }"""

RUN_CELL = """() => { const nb = window.jupyterapp.shell.currentWidget.content;
  const i = nb.widgets.findIndex(c => c.model.sharedModel.getSource().includes('form.run()'));
  nb.activeCellIndex = i; return i; }"""

def test_form_renders_start_prepares_next_cell_runs_plot_appears(lab, tmp_path):
    url, token = lab
    shots = screenshots(tmp_path)
    with chromium(tmp_path) as page:
        page.goto(f'{url}/lab/tree/colab.ipynb?token={token}')
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        button = page.locator('button.jupyter-button', has_text='Start')
        button.wait_for(timeout=120_000)
        page.wait_for_selector('.widget-tab', timeout=30_000)
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        assert page.locator('.widget-checkbox').count() >= 17          # the options of the four registries + use_bias
        assert 'VBox(children=' not in page.inner_text('body')          # a text repr means the widgets did not render
        assert page.get_by_text('Nothing to run yet: press Start').count() == 1   # Run all alone trains nothing
        button.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / 'colab-form.png'), full_page=False)
        button.click()                                                   # Start: prepares, trains nothing
        page.wait_for_selector('.widget-html:has-text("Now run the next cell")', timeout=60_000)
        page.screenshot(path=str(shots / 'colab-after-start.png'), full_page=False)
        assert page.evaluate(RUN_CELL) > 0
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-cell')")
        page.wait_for_selector('.widget-html:has-text("Done: best")', timeout=180_000)
        lines = page.locator('.jp-OutputArea-output pre', has_text=re.compile(r'generation \d+/2 .* perplexity'))
        lines.first.wait_for(timeout=30_000)
        assert page.get_by_text(re.compile(r'^Done: best', re.M)).count() >= 1
        plot = page.locator('.widget-output img')
        plot.first.wait_for(timeout=60_000)
        assert plot.count() >= 1
        plot.first.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / 'colab-after-run.png'), full_page=False)
        lines.last.scroll_into_view_if_needed()                          # the printed lines, below the plot
        page.screenshot(path=str(shots / 'colab-run-lines.png'), full_page=False)

WHOLE_OPTIONS = """s => { const cs = getComputedStyle(s);
  const c = document.createElement('canvas').getContext('2d'); c.font = cs.font;
  const text = Math.max(...[...s.options].map(o => c.measureText(o.text).width));
  return text <= s.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight); }"""

PICKED_IMAGE = """() => { const i = document.querySelector('.widget-output img');
  return i ? i.src : null; }"""

def _changed_image(page, before: str) -> str:
    "Wait until the picker's output shows an image other than `before`; return its src."
    page.wait_for_function(f"old => {{ const s = ({PICKED_IMAGE})(); return !!s && s !== old; }}",
                           arg=before, timeout=60_000)
    return page.evaluate(PICKED_IMAGE)

def test_attention_picker_renders_and_redraws(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in PICKER_CELLS])
    nb.metadata['kernelspec'] = dict(name='python3', display_name='Python 3', language='python')
    shots = screenshots(tmp_path)
    with jupyter_lab(tmp_path, {'picker.ipynb': nb}) as (url, token), chromium(tmp_path) as page:
        page.goto(f'{url}/lab/tree/picker.ipynb?token={token}')
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        dropdown = page.locator('.widget-dropdown select')
        dropdown.wait_for(timeout=180_000)
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        assert 'VBox(children=' not in page.inner_text('body')          # no text repr: real widgets
        sliders = page.locator('.widget-hslider')
        assert sliders.count() == 2 and dropdown.count() == 1
        labels = [sliders.nth(i).locator('.widget-label').inner_text() for i in (0, 1)]
        assert labels == ['layer', 'head']
        options = dropdown.locator('option').all_inner_texts()
        assert options == PICKER_OFFERS
        assert dropdown.evaluate(WHOLE_OPTIONS), 'the gene dropdown cuts its ids'
        first = _changed_image(page, '')
        assert first.startswith('data:image/png;base64,')
        picker = page.locator('.jp-OutputArea-output .widget-vbox').first
        picker.scroll_into_view_if_needed()
        picker.screenshot(path=str(shots / 'picker-first.png'))
        sliders.nth(1).locator('.noUi-handle').press('ArrowRight')        # head 0 -> 1
        head1 = _changed_image(page, first)
        assert sliders.nth(1).locator('.widget-readout').inner_text().strip() == '1'
        picker.screenshot(path=str(shots / 'picker-head1.png'))
        dropdown.select_option(options[1])                          # another gene, the same head
        cosine = _changed_image(page, head1)
        assert len({first, head1, cosine}) == 3
        picker.screenshot(path=str(shots / 'picker-gene.png'))
        page.screenshot(path=str(shots / 'picker-page.png'), full_page=False)
