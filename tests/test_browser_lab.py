"""The lab in a real browser, as `make lab` serves it: what nbval cannot see.

Every notebook (and every learner copy) is opened in headless Chromium; its saved outputs must show
no error, every <video> must load (readyState >= 2) and play (currentTime advances), every image
must decode, and every mermaid diagram must render to SVG. Then notebooks 00-04 and 99 are run in
order through the menu (Run > Run All Cells) on a private local target, and checked again. One
screenshot per notebook (and per run) goes to build/browser-lab/.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser_lab_support import ROOT, SCREENSHOTS, launch_chromium, make_lab
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

NOTEBOOKS = ROOT / "notebooks"
FULL = sorted(p.relative_to(NOTEBOOKS).as_posix() for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
LEARNER = sorted(p.relative_to(NOTEBOOKS).as_posix() for p in (NOTEBOOKS / "student").glob("[0-9][0-9]_*.ipynb"))
RUN_TIMEOUT_S = 480  # the slowest notebook (03, the whole pipeline) takes well under a minute locally

pytestmark = pytest.mark.slow

# The notebook in the current tab, read from JupyterLab's own model (exposed by make_lab's flags).
STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets;
  const code = cells.filter(c => c.model.type === 'code');
  const errors = [];
  cells.forEach((c, i) => {
    if (c.model.type !== 'code') return;
    for (const o of c.model.outputs.toJSON())
      if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
  });
  const prompt = c => (c.node.querySelector('.jp-InputPrompt') || {}).textContent || '';
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {
    kernel: kernel ? kernel.status : 'none',
    code: code.length,
    executed: code.filter(c => c.model.executionCount !== null).length,
    running: code.filter(c => prompt(c).includes('*')).length,
    errors,
    mermaid: cells.filter(c => c.model.type === 'markdown' && c.model.sharedModel.getSource().includes('```mermaid')).length,
  };
}"""

READY_JS = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.context || !panel.context.isReady || !panel.sessionContext) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && !!document.querySelector('.jp-Notebook .jp-Cell');
}"""

PLAY_JS = """async video => {
  video.scrollIntoView();
  const src = video.getAttribute('src');
  const deadline = Date.now() + 30000;
  while (video.readyState < 2 && !video.error && Date.now() < deadline) await new Promise(r => setTimeout(r, 100));
  const result = {src, readyState: video.readyState, error: video.error ? video.error.code : null, start: null, end: null};
  if (video.readyState < 2) return result;
  result.start = video.currentTime;
  await video.play();
  await new Promise(r => setTimeout(r, 1500));
  result.end = video.currentTime;
  video.pause();
  return result;
}"""

IMAGE_JS = """async img => {
  img.scrollIntoView();
  try { await img.decode(); } catch (e) {}
  return {src: (img.getAttribute('src') || '').slice(0, 60), width: img.naturalWidth};
}"""

# JupyterLab draws a mermaid block as an SVG (inline, or as an <img> of SVG data); a parse error
# is drawn as a warning instead.
MERMAID_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-RenderedMermaid')].map(d => ({
  svg: !!d.querySelector('svg') || [...d.querySelectorAll('img')].some(i => i.src.startsWith('data:image/svg+xml') && i.naturalWidth > 0),
  warning: d.classList.contains('jp-mod-warning'),
  text: d.textContent.slice(0, 200),
}))"""


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    """One JupyterLab (started by `make lab`) and one Chromium for the whole module."""
    workdir = tmp_path_factory.mktemp("browser-lab")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with make_lab(workdir) as lab, sync_playwright() as playwright:
        browser, which = launch_chromium(playwright)
        print(f"\nbrowser test: {which}; JupyterLab from `make lab` at {lab.url}; screenshots in {SCREENSHOTS}")
        (SCREENSHOTS / "browser.txt").write_text(which + "\n")
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        try:
            yield lab, page, which
        finally:
            browser.close()
            print(f"\nbrowser test: {time.monotonic() - started:.0f} s including JupyterLab start-up")


def _open(lab, page: Page, notebook: str) -> dict:
    lab.shut_down_kernels()
    # ?reset: a fresh workspace, so only this notebook opens (and starts a kernel).
    page.goto(f"{lab.url}/lab/tree/{notebook}?reset&token={lab.token}")
    page.wait_for_function(READY_JS, timeout=120_000, polling=250)
    assert not page.get_by_text("official Jupyter news").is_visible(), "JupyterLab's news pop-up is shown"
    return page.evaluate(STATE_JS)


def _check_rendered(page: Page, notebook: str, which: str) -> list[str]:
    """Everything the learner would see broken on this page, as readable lines."""
    problems = [f"error output {e}" for e in page.evaluate(STATE_JS)["errors"]]
    videos = page.locator(".jp-Notebook video").element_handles()
    if videos and not page.evaluate(
        """() => document.createElement('video').canPlayType('video/mp4; codecs="avc1.640028"')"""
    ):
        problems.append(
            "this browser cannot play H.264: use Debian's chromium or Google Chrome (playwright install chrome)"
        )
    for video in videos:
        seen = video.evaluate(PLAY_JS)
        if seen["readyState"] < 2:
            problems.append(
                f"<video src={seen['src']!r}> never loaded (readyState {seen['readyState']}, error {seen['error']})"
            )
        elif not seen["end"] > seen["start"]:
            problems.append(f"<video src={seen['src']!r}> does not play ({seen['start']} -> {seen['end']} s)")
    for image in page.locator(
        ".jp-Notebook .jp-OutputArea-output img, .jp-Notebook .jp-MarkdownOutput img"
    ).element_handles():
        seen = image.evaluate(IMAGE_JS)
        if not seen["width"] > 0:
            problems.append(f"image {seen['src']!r}... does not decode")
    expected = page.evaluate(STATE_JS)["mermaid"]
    if expected:
        try:
            page.wait_for_function(
                f"() => document.querySelectorAll('.jp-Notebook .jp-RenderedMermaid').length >= {expected}",
                timeout=30_000,
            )
        except PlaywrightTimeout:
            pass  # reported below, with what was drawn
        drawn = page.evaluate(MERMAID_JS)
        if len(drawn) < expected or not all(d["svg"] and not d["warning"] for d in drawn):
            problems.append(f"mermaid: {expected} diagram(s) in the markdown, drawn: {drawn}")
    return [f"{notebook} ({which}): {p}" for p in problems]


def _shot(page: Page, notebook: str, suffix: str) -> None:
    """The first error if there is one, else the first video, else the top of the notebook."""
    page.evaluate("""() => {
      document.querySelectorAll('.jp-WindowedPanel-outer').forEach(n => n.scrollTop = 0);
      const shown = document.querySelector('.jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"], .jp-Notebook video');
      if (shown) shown.scrollIntoView({block: 'center'});
    }""")
    page.screenshot(path=SCREENSHOTS / f"{notebook.replace('/', '_').removesuffix('.ipynb')}{suffix}.png")


@pytest.mark.parametrize("notebook", LEARNER + FULL)
def test_saved_notebook_renders_in_the_browser(browser_page, notebook):
    lab, page, which = browser_page
    _open(lab, page, notebook)
    problems = _check_rendered(page, notebook, which)
    _shot(page, notebook, "")
    assert not problems, "\n".join(problems)


# Run through the UI: the lab's core path, as a learner meets it. 05 and 06 (scale-out, callback) run
# under strict nbval twice already, and each takes minutes: their saved outputs are checked above.
RUN_IN_BROWSER = [n for n in FULL if n[:2] in ("00", "01", "02", "03", "04", "99")]


@pytest.mark.parametrize("notebook", RUN_IN_BROWSER)
def test_run_all_in_the_browser(browser_page, notebook):
    """Edit > Clear Outputs of All Cells, then Run > Run All Cells, as a learner would; in order 00..99."""
    lab, page, which = browser_page
    _open(lab, page, notebook)
    for menu, item in (("Edit", "Clear Outputs of All Cells"), ("Run", "Run All Cells")):
        page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
        page.locator(".lm-Menu-itemLabel", has_text=item).first.click()
        if item.startswith("Clear"):
            page.wait_for_function(f"() => ({STATE_JS})().executed === 0")
    started = time.monotonic()
    page.wait_for_function(
        f"""() => {{
          const s = ({STATE_JS})();
          return s.kernel === 'idle' && s.running === 0 && (s.executed === s.code || s.errors.length > 0);
        }}""",
        timeout=RUN_TIMEOUT_S * 1000,
        polling=500,
    )
    state = page.evaluate(STATE_JS)
    print(f"\n{notebook}: Run All took {time.monotonic() - started:.1f} s")
    problems = _check_rendered(page, notebook, which)
    _shot(page, notebook, "-run")
    assert not problems, "\n".join(problems)
    assert state["executed"] == state["code"], f"{notebook}: ran {state['executed']} of {state['code']} code cells"


def test_no_news_pop_up(browser_page):
    """`make lab` installs settings that turn JupyterLab's "get notified about Jupyter news?" toast off."""
    lab, page, _ = browser_page
    _open(lab, page, FULL[0])
    fetch_news = page.evaluate(
        """async () => (await window.jupyterapp.serviceManager.settings.fetch(
             '@jupyterlab/apputils-extension:notification')).schema.properties.fetchNews.default"""
    )
    assert fetch_news == "false"
    page.wait_for_timeout(3000)  # the toast would come a moment after the page loads
    assert not page.get_by_text("Jupyter news").is_visible()


def test_screenshots_of_every_notebook_saved(browser_page):
    names = {p.name for p in SCREENSHOTS.glob("*.png")}
    for notebook in LEARNER + FULL:
        assert f"{notebook.replace('/', '_').removesuffix('.ipynb')}.png" in names
    for notebook in RUN_IN_BROWSER:
        assert f"{notebook.replace('/', '_').removesuffix('.ipynb')}-run.png" in names
    assert Path(SCREENSHOTS / "browser.txt").read_text().strip()
