"""The docs site, built by `mlops-nb docs` as a user builds it (every notebook executed, mkdocs in strict mode), then
read in Debian's Chromium: the home page, the search, a stage page with its code and outputs, and a plot. Screenshots
go to test-artifacts/ (or $MLOPS_NB_ARTIFACTS)."""

import re, subprocess, sys, time
from pathlib import Path
import httpx, pytest
from playwright.sync_api import sync_playwright
from typer.testing import CliRunner
from conftest import WITH_NOTEBOOK_TESTS, cli
from test_reports import ARGS, ARTIFACTS, CHROMIUM, free_port

PROJECT = Path(__file__).parent.parent
pytestmark = pytest.mark.xdist_group('docs')


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The site, built once by the command (into a folder of the tests, not the checkout's _site/)."
    out = tmp_path_factory.mktemp('docs')
    result = cli('docs', '--out', out, '--workers', '1', cwd=PROJECT, timeout=1800, env=WITH_NOTEBOOK_TESTS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'executing' in result.stderr and 'built the site in' in result.stdout
    return out/'_site'


def test_every_notebook_is_a_page_with_its_outputs_and_the_docs_of_its_exports(site):
    notebooks = [p.stem for p in (PROJECT/'nbs').glob('*.ipynb') if p.stem != 'index']
    assert [n for n in notebooks if not (site/n/'index.html').is_file()] == []
    auth = re.sub(r'<[^>]+>', '', (site/'07h_auth'/'index.html').read_text())               # the text, as read
    assert 'host, # the address the server listens on' in auth                       # access()'s signature, by show_doc
    assert (site/'07h_auth'/'index.html').read_text().count('jp-OutputArea-output') > 5     # its examples ran
    assert '#| export' not in auth and '#| hide' not in auth
    for page in ('benchmarks', 'serving', 'reference/cli', 'reference/config', 'reference/api'):
        assert (site/page/'index.html').is_file(), page


def listed(runner, app, *words): # a command group's words
    "The commands `mlops-nb WORDS --help` lists."
    help_text = runner.invoke(app, [*words, '--help'], terminal_width=200).output
    return re.findall(r'^│ ([a-z][\w-]*) {2,}',
                      help_text.split('Commands')[-1], re.M) if 'Commands' in help_text else []


def test_the_references_name_every_command_and_every_config_key(site):
    from mlops_nb.cli import app
    import mlops_nb.cli_store, mlops_nb.cli_docs  # noqa: F401 (they register their commands)
    runner, commands = CliRunner(), []
    for name in listed(runner, app):
        words = listed(runner, app, name)
        commands += [f'{name} {w}' for w in words] or [name]
    assert len(commands) > 20 and 'models promote' in commands and 'docs' in commands
    reference = (site/'reference'/'cli'/'index.html').read_text()
    assert [c for c in commands if not re.search(rf'<h2 id="[^"]*">mlops-nb {c}<', reference)] == []
    keys = re.findall(r'^([a-z_]+):', cli('config').stdout, re.M)
    config = (site/'reference'/'config'/'index.html').read_text()
    assert len(keys) > 40 and [k for k in keys if f'<code>{k}</code>' not in config] == []


def test_the_site_in_chromium_searches_shows_code_outputs_and_plots(site):
    port = free_port()
    server = subprocess.Popen([
        sys.executable, '-c', f"from mlops_nb.docs import serve_site; serve_site({str(site)!r}, {port})"
    ], stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f'http://127.0.0.1:{port}/', timeout=5).status_code == 200: break
            except httpx.TransportError: time.sleep(0.2)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={'width': 1400, 'height': 1000})
            page.goto(f'http://127.0.0.1:{port}/')
            assert 'mlops_nb' in page.title()
            assert page.locator('h1').first.inner_text().strip() == 'mlops_nb'
            page.screenshot(path=str(ARTIFACTS/'docs-home.png'))
            page.locator('input.md-search__input').click()
            meta = page.locator('.md-search-result__meta')
            page.wait_for_function("m => !m.innerText.includes('Initializing')", arg=meta.element_handle(),
                                   timeout=180_000)
            page.locator('input.md-search__input').press_sequentially('quarantine', delay=50)  # keys, as a reader types
            hit = page.locator('.md-search-result__item a[href*="02_validate"]').first
            hit.wait_for(timeout=60_000)
            hit.click()
            page.wait_for_url(re.compile(r'02_validate/'), timeout=30_000)
            assert page.locator('.jp-CodeCell').count() > 10                          # the code...
            assert page.locator('.jp-OutputArea-output').count() > 5                   # ...and what it gave
            page.goto(f'http://127.0.0.1:{port}/02a_drift/')
            plot = page.locator('.jp-OutputArea-output img').first
            plot.scroll_into_view_if_needed()
            assert plot.evaluate('img => img.complete && img.naturalWidth') > 300     # a plot, decoded and drawn
            page.screenshot(path=str(ARTIFACTS/'docs-drift.png'), full_page=False)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_readme_is_a_front_page():
    lines = (PROJECT/'README.md').read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    quick = '\n'.join(lines[lines.index('## Quick start'):]).split('\n## ')[0]
    assert 'python -c' not in quick                                                    # commands, not pasted Python


def test_no_link_inside_the_site_is_broken(site):
    "mkdocs checks the links of Markdown pages; this checks every page's, the notebooks' included."
    broken = []
    for page in site.rglob('*.html'):
        for link in re.findall(r'href="([^"#?]+)[^"]*"', page.read_text()):
            if re.match(r'[a-z]+:', link) or link.startswith('/'): continue
            target = (page.parent/link).resolve()
            if not (target.is_file() or (target / 'index.html').is_file()):
                broken.append(f'{page.relative_to(site)}: {link}')
    assert broken == [], broken
