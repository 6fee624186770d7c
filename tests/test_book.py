"""The tutorial's website (`make book`): it builds, links resolve, numbers come from the notebooks.

The book is built once per test session (`book/build.py`, a few seconds: nothing is executed)
into build/book/. The last test opens it in headless Chromium through Selenium, with the
system's chromedriver; it skips when Chromium, chromedriver or selenium is missing, unless
RECSAE_REQUIRE_BROWSER is set (CI), where that is a failure.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from recsae.course import reporting

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "build" / "book"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = BOOK / "screenshots"
SITE_TITLE = "recsae tutorial"
LANDING_TITLE = "Deep autoencoders for movie recommendations, reproduced and corrected"
# Debian's packages chromium and chromium-driver; elsewhere, point these variables at them.
CHROMIUM = os.environ.get("RECSAE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RECSAE_CHROMEDRIVER", "/usr/bin/chromedriver")

# The landing page's headline table, row by row: (start of the row's label, notebook,
# metric recorded for the RMSE, metric recorded for the article's metric or None).
EXPECTED_HEADLINE = [
    ("global mean", "04_training", "global_mean.global_rmse", None),
    ("the article's net, as published", "04_training",
     "as_published.global_rmse", "as_published.article_metric"),
    ("the same net, corrected", "04_training", "corrected.global_rmse", "corrected.article_metric"),
    ("I-AutoRec ensemble + MF", "08_beyond_the_article", "best.fold1_rmse", None),
    ("Bayesian FM + autoencoders + MF", "08_beyond_the_article", "best_overall.rmse_u1", None),
]


@pytest.fixture(scope="session")
def book() -> Path:
    """build/book/, freshly built (once per session) the way `make book` builds it."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(ROOT / "book" / "build.py")], cwd=ROOT,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"make book failed:\n{result.stdout}\n{result.stderr}"
    print(f"book built in {time.perf_counter() - start:.1f} s")
    return BOOK


# --- reading the HTML ------------------------------------------------------------------------

# Elements that separate words in the text a reader sees.
_BLOCKS = {"p", "div", "li", "ul", "ol", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th",
           "tr", "table", "caption", "br", "pre", "section", "nav", "header", "footer", "title"}


class Page(HTMLParser):
    """What the tests need from one HTML page: its title, references, ids, tables, text."""

    def __init__(self, path: Path):
        super().__init__(convert_charrefs=True)
        self.path = path
        self.title = ""
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, URL)
        self.ids: set[str] = set()
        self.link_rel: dict[str, str] = {}  # <link rel=prev/next href=...>
        self.tables: dict[str, list[list[str]]] = {}  # id -> rows of cell texts
        self.text_parts: list[str] = []
        self._in_title = False
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._skip = 0  # inside <script> or <style>
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in _BLOCKS:
            self.text_parts.append(" ")
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "a" and "name" in attributes:
            self.ids.add(attributes["name"])
        for name in ("href", "src"):
            if attributes.get(name) is not None:
                self.refs.append((tag, name, attributes[name]))
        if tag == "link" and attributes.get("rel") in {"prev", "next"}:
            self.link_rel[attributes["rel"]] = attributes["href"]
        if tag == "title":
            self._in_title = True
        elif tag in {"script", "style"}:
            self._skip += 1
        elif tag == "table" and attributes.get("id"):
            self._table = attributes["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in {"td", "th"} and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in _BLOCKS:
            self.text_parts.append(" ")
        if tag == "title":
            self._in_title = False
        elif tag in {"script", "style"}:
            self._skip -= 1
        elif tag == "table":
            self._table = None
        elif tag in {"td", "th"} and self._table and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if self._cell is not None:
            self._cell.append(data)
        if not self._skip:
            self.text_parts.append(data)

    @property
    def text(self) -> str:
        return normalise("".join(self.text_parts))


def normalise(text: str) -> str:
    """Whitespace collapsed and Sphinx's typographic quotes turned back into plain ones."""
    for fancy, plain in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"')):
        text = text.replace(fancy, plain)
    return " ".join(text.split())


@functools.cache
def parse(path: Path) -> Page:
    return Page(path)


def html_pages(book: Path) -> list[Path]:
    return sorted(p for p in book.rglob("*.html") if "_static" not in p.relative_to(book).parts)


def first_heading(notebook: Path) -> str:
    """The notebook's title: the first Markdown heading of its first Markdown cell."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise AssertionError(f"{notebook.name} has no '# ' title")


def page_of(book: Path, notebook: Path) -> Path:
    return book / "notebooks" / f"{notebook.stem}.html"


# --- the build -------------------------------------------------------------------------------

def test_book_builds(book):
    assert (book / "index.html").is_file()
    # MathJax is served from the site itself (sphinx-mathjax-offline), never from a CDN.
    assert (book / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_every_notebook_has_a_page_in_order(book):
    assert len(NOTEBOOKS) == 8, [p.name for p in NOTEBOOKS]
    # Reading order by previous/next links: landing page, the notebooks 01..08, background.
    order = [book / "index.html"] + [page_of(book, nb) for nb in NOTEBOOKS]
    for path, notebook in zip(order[1:], NOTEBOOKS, strict=True):
        assert path.is_file(), f"no page for {notebook.name}"
        page = parse(path)
        assert normalise(first_heading(notebook)) in page.text
        assert normalise(page.title).startswith(normalise(first_heading(notebook))), page.title
    for here, there in zip(order, order[1:], strict=False):
        assert (here.parent / parse(here).link_rel["next"]).resolve() == there.resolve()
        assert (there.parent / parse(there).link_rel["prev"]).resolve() == here.resolve()
    # The sidebar lists every notebook page (benchmarks.html links to notebooks by it alone).
    sidebar = {(book / urlsplit(href).path).resolve()
               for _, attr, href in parse(book / "benchmarks.html").refs if attr == "href"}
    assert all(page_of(book, nb).resolve() in sidebar for nb in NOTEBOOKS)


def test_notebook_figures_are_on_the_pages(book):
    """Each PNG output of a notebook becomes an <img> of its page."""
    for notebook in NOTEBOOKS:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        figures = sum("image/png" in output.get("data", {})
                      for cell in nb["cells"] for output in cell.get("outputs", []))
        images = [url for tag, _, url in parse(page_of(book, notebook)).refs
                  if tag == "img" and "_images/" in url]
        assert len(images) == figures, notebook.name


def test_internal_links_and_images_resolve(book):
    """Every href/src in every page names a file of the site (and an id there, for #anchors);
    nothing is loaded from outside (the site works offline)."""
    problems = []
    pages = html_pages(book)
    assert len(pages) >= len(NOTEBOOKS) + 3
    for path in pages:
        page = parse(path)
        for tag, attr, url in page.refs:
            parts = urlsplit(url)
            if parts.scheme in {"http", "https", "mailto"} or url.startswith("//"):
                if tag != "a":
                    problems.append(f"{path.name}: <{tag} {attr}> loads {url} from outside")
                continue
            if parts.scheme:
                if parts.scheme != "data":
                    problems.append(f"{path.name}: <{tag} {attr}={url}>")
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if book.resolve() not in target.parents:
                problems.append(f"{path.name}: {url} leaves the site")
            elif not target.is_file():
                problems.append(f"{path.name}: <{tag} {attr}={url}>: no {target.relative_to(book)}")
            elif parts.fragment and target.suffix == ".html" \
                    and unquote(parts.fragment) not in parse(target).ids:
                problems.append(f"{path.name}: {url}: no id {parts.fragment!r}")
    assert not problems, "\n".join(problems)


# --- the landing page ------------------------------------------------------------------------

def recorded(notebook: str, metric: str) -> str:
    """A metric as the committed notebook recorded it: record_metrics' invisible output
    (values to 3 decimals), or its printed `name  value` lines in older outputs."""
    nb = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    outputs = [output for cell in nb["cells"] for output in cell.get("outputs", [])]
    values = [f"{float(o['data'][reporting.METRICS_MIMETYPE][metric]):.3f}" for o in outputs
              if metric in o.get("data", {}).get(reporting.METRICS_MIMETYPE, {})]
    printed = "\n".join("".join(output.get("text", "")) for output in outputs
                        if output.get("name") == "stdout")
    values += re.findall(rf"^{re.escape(metric)}[ \t]+(\S+)[ \t]*$", printed, flags=re.MULTILINE)
    assert values, f"{notebook}.ipynb prints no metric {metric}"
    assert len(set(values)) == 1, (notebook, metric, values)
    float(values[0])
    return values[0]


def published_u1_rmse() -> dict[str, float]:
    """recsae's PUBLISHED_U1_RMSE, read from the source (importing it loads torch)."""
    for module in (ROOT / "recsae").rglob("*.py"):
        match = re.search(r"^PUBLISHED_U1_RMSE\b[^=]*=\s*(\{.*?\})", module.read_text(encoding="utf-8"),
                          re.M | re.S)
        if match:
            return ast.literal_eval(match[1])
    raise AssertionError("no module of recsae/ defines PUBLISHED_U1_RMSE")


def test_headline_table_holds_the_notebooks_numbers(book):
    rows = parse(book / "index.html").tables["headline-table"]
    header, body = rows[0], rows[1:]
    assert header[:3] == ["model", "RMSE", "the article\u2019s metric"], header
    assert len(body) == len(EXPECTED_HEADLINE) + 1
    for row, (label, notebook, rmse, article) in zip(body, EXPECTED_HEADLINE, strict=False):
        assert normalise(row[0]).startswith(label), row
        assert row[1] == recorded(notebook, rmse), (row, notebook, rmse)
        assert row[2] == (recorded(notebook, article) if article else "\u2014"), (row, article)
        assert row[3] == f"notebook {int(notebook[:2])}", row
    glocal = body[-1]
    assert glocal[0].startswith("GLocal-K") and float(glocal[1]) == published_u1_rmse()["GLocal-K"]
    # The baseline row is u1's global mean, as notebook 1 computes it too.
    assert recorded("04_training", "global_mean.global_rmse") == recorded(
        "01_data", "u1_global_mean_rmse")


def test_landing_page_says_what_and_how(book):
    page = parse(book / "index.html")
    assert normalise(page.title) == f"{LANDING_TITLE} \u2014 {SITE_TITLE}", page.title
    text = page.text
    for needle in ("Deep Autoencoders for movie recommendations \u2014 A practical approach",
                   "H. Shinde, 2018", "Medium", "make run", "make test", "make book"):
        assert needle in text, needle
    # the equations are there as maths for MathJax (the browser test checks they render)
    assert "\\mathrm{RMSE}" in text and "\\(P_u\\)" in text


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^#{{1,2}} |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {title}'"
    return match[1]


def test_errata_page_is_the_readme_section(book):
    page = parse(book / "article_errors.html")
    assert normalise(page.title).startswith("What the article got wrong")
    items = re.findall(r"^\d+\. (.*?)(?=^\d+\. |\Z)", readme_section("What the article got wrong"),
                       re.M | re.S)
    assert len(items) >= 5
    for item in items:
        plain = normalise(re.sub(r"[`*]", "", item))  # Markdown's code spans and emphasis
        assert plain in page.text, plain[:80]


def test_benchmarks_page_is_docs_benchmarks(book):
    page = parse(book / "benchmarks.html")
    source = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    headings = re.findall(r"^#{1,3} (.+)$", source, re.M)
    assert headings and normalise(page.title).startswith(normalise(headings[0]))
    for heading in headings:
        assert normalise(re.sub(r"[`*]", "", heading)) in page.text, heading


# --- in a real browser -----------------------------------------------------------------------

def _require_browser():
    """Skip (or, with RECSAE_REQUIRE_BROWSER set, fail) when there is no browser to drive."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = (f"browser test needs {', '.join(missing)} "
                   "(apt-get install chromium chromium-driver; selenium is in requirements.lock)")
        if os.environ.get("RECSAE_REQUIRE_BROWSER"):  # CI: a missing browser is a failure
            pytest.fail(message)
        pytest.skip(message)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def site(book):
    """build/book/ served over http on localhost (a thread), for the browser."""
    handler = functools.partial(_QuietHandler, directory=str(book))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory, monkeypatch_module):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def no_selenium_manager(*args, **kwargs):
        raise AssertionError("Selenium Manager must not run (it may download drivers)")

    # The driver path is given, so Selenium skips its manager; make sure it stays that way.
    monkeypatch_module.setattr(SeleniumManager, "binary_paths", no_selenium_manager)
    monkeypatch_module.setenv("SE_OFFLINE", "true")
    monkeypatch_module.setenv("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


# Text nodes outside code, scripts and rendered maths: what a reader sees as prose.
_VISIBLE_PROSE_JS = """
const skip = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'TEXTAREA', 'MJX-CONTAINER', 'NOSCRIPT']);
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode(node) {
    for (let el = node.parentElement; el; el = el.parentElement) {
        if (skip.has(el.tagName.toUpperCase())) return NodeFilter.FILTER_REJECT;
    }
    return NodeFilter.FILTER_ACCEPT;
}});
const parts = [];
while (walker.nextNode()) parts.push(walker.currentNode.nodeValue);
return parts.join(' ');
"""

_WAIT_FOR_MATHJAX_JS = """
const done = arguments[arguments.length - 1];
if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) { done('no MathJax'); return; }
MathJax.startup.promise.then(() => done('typeset'), (error) => done('error: ' + error));
"""


def check_page(driver, url: str, title: str, name: str) -> dict:
    """Open ``url``; assert its title, images, maths and console; save screenshots."""
    driver.get(url)
    assert driver.execute_script("return document.readyState") == "complete"
    assert normalise(driver.title) == f"{normalise(title)} \u2014 {SITE_TITLE}", driver.title
    maths = driver.execute_script("return document.querySelectorAll('.math').length")
    mathjax = driver.execute_async_script(_WAIT_FOR_MATHJAX_JS)
    if maths:
        assert mathjax == "typeset", (name, mathjax)
        untypeset = driver.execute_script(
            "return Array.from(document.querySelectorAll('.math'))"
            ".filter(e => !e.querySelector('mjx-container')).map(e => e.textContent)")
        assert not untypeset, f"{name}: maths not rendered: {untypeset[:3]}"
        assert not driver.execute_script("return document.querySelectorAll('mjx-merror').length")
    prose = driver.execute_script(_VISIBLE_PROSE_JS)
    raw = re.findall(r"\$[^$\s][^$]*?\$|\\\(.*?\\\)|\\\[.*?\\\]", prose)
    assert not raw, f"{name}: raw TeX in the visible text: {raw[:3]}"
    images = driver.execute_script("return document.images.length")
    broken = driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src)")
    assert not broken, f"{name}: images that did not load: {broken}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    for what, selector in (("figure", "img[src*='_images/']"), ("maths", "div.math"),
                           ("table", "article table")):
        if driver.execute_script(f"return document.querySelector(\"{selector}\") !== null"):
            driver.execute_script(
                f"document.querySelector(\"{selector}\").scrollIntoView({{block: 'center'}})")
            driver.save_screenshot(str(SCREENSHOTS / f"{name}-{what}.png"))
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"{name}: console errors: {errors}"
    return {"maths": maths, "images": images}


def test_pages_in_a_real_browser(book, site, browser):
    landing = check_page(browser, f"{site}/index.html", LANDING_TITLE, "index")
    assert landing["maths"] >= 2  # the landing page's equations
    seen = {"index": landing}
    for notebook in NOTEBOOKS:
        seen[notebook.stem] = check_page(browser, f"{site}/notebooks/{notebook.stem}.html",
                                         first_heading(notebook), notebook.stem)
    assert seen["04_training"]["images"] >= 1
    for page, title in (("article_errors", "What the article got wrong"), ("benchmarks", "Benchmarks")):
        check_page(browser, f"{site}/{page}.html", title, page)
    # the sidebar's next link leads from the landing page to the first notebook
    browser.get(f"{site}/index.html")
    browser.find_element("css selector", "a.right-next").click()
    assert browser.current_url.endswith(f"notebooks/{NOTEBOOKS[0].stem}.html")
