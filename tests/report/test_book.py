"""The book, built from nothing on the quick paper study and read in headless Chromium as a reader would.

The build goes to out/paper-quick (as `make book PROFILE=quick`), so a second run skips the notebooks
whose inputs did not change; screenshots of every page go to out/paper-quick/screenshots/.
"""
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import QUICK_BOOK, QUICK_STUDY, REPO
from voicesae_core.report import book, study

OUT = QUICK_BOOK

def _pages() -> list[str]:
    """Every page of the table of contents (so a new chapter is read in the browser too)."""
    import yaml
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f.removeprefix("book/") for f in files]


PAGES = _pages()
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
BROWSERS = ("chromium", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def html(quick_book):
    index = quick_book
    assert index == OUT / "_build" / "html" / "index.html"
    return index.parent


def test_every_page_is_built_and_nothing_comes_from_the_network(html):
    assert {"index", "own_data", "notebooks/01_data", "notebooks/06_audio"} <= set(PAGES)
    for page in PAGES:
        assert (html / "book" / f"{page}.html").is_file(), page
    remote = re.compile(r'<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)="(?:https?:)?//', re.I)
    for f in html.rglob("*.html"):
        found = remote.findall(f.read_text(errors="replace"))
        assert not found, f"{f} loads {found[:3]}"
    assert (html / "mathjax" / "tex-chtml.js").is_file()
    assert (html / "_images" / "sae.svg").is_file()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright
    # Debian's chromium, or Google Chrome where it is already there (GitHub's Ubuntu runners): the
    # Makefile's order; VOICESAE_BROWSER names another.
    exe = os.environ.get("VOICESAE_BROWSER") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if exe is None:
        pytest.fail("no Chromium browser (make test installs Debian's: apt-get install chromium)")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(tmp_path_factory.mktemp("chromium-profile")),
                                                       executable_path=exe, headless=True, args=ARGS,
                                                       viewport={"width": 1280, "height": 900})
        yield context
        context.close()


def read(context, path: Path, shot: Path) -> dict:
    """Open one page offline; return what a reader would have met: errors, images, math, plots."""
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} ({r.failure})"))

    def only_local(route):  # a request for anything but a local file is a defect of the build
        if route.request.url.startswith(("file://", "data:", "about:")):
            route.continue_()
        else:
            problems.append(f"remote request: {route.request.url}")
            route.abort()
    page.route("**/*", only_local)
    page.goto(path.as_uri(), wait_until="load")
    # MathJax 3 typesets after load: wait until it says it is done (or there is no math at all).
    page.wait_for_function("() => !document.querySelector('.math') || (window.MathJax && MathJax.startup"
                           " && MathJax.startup.promise && (MathJax.startup.promise.then(() => window.__typeset = true),"
                           " window.__typeset))", timeout=60_000)
    facts = page.evaluate("""() => ({
        images: Array.from(document.images).map(i => ({src: i.currentSrc.slice(0, 80), complete: i.complete,
                 width: i.naturalWidth, shown: i.getBoundingClientRect().width})),
        alts: Array.from(document.querySelectorAll('article img')).map(i => i.alt),
        math: document.querySelectorAll('.math').length,
        typeset: document.querySelectorAll('mjx-container').length,
        mathErrors: document.querySelectorAll('mjx-merror, .MathJax_Error').length,
        rawTex: /\\\\\\(|\\$\\$/.test(document.querySelector('article') ? document.querySelector('article').innerText : ''),
        plotly: document.querySelectorAll('.js-plotly-plot svg.main-svg').length,
        sankeyNodes: document.querySelectorAll('.js-plotly-plot .sankey-node').length,
        sankeyLinks: document.querySelectorAll('.js-plotly-plot path.sankey-link').length,
        title: document.title,
    })""")
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    return {**facts, "problems": problems}


def test_every_page_reads_cleanly_in_chromium(html, browser):
    shots = OUT / "screenshots"
    shots.mkdir(exist_ok=True)
    seen = {}
    for name in PAGES:
        shot = shots / f"{name.replace('/', '_')}.png"
        facts = seen[name] = read(browser, html / "book" / f"{name}.html", shot)
        assert facts["problems"] == [], (name, facts["problems"])
        for img in facts["images"]:
            assert img["complete"] and img["width"] > 0 and img["shown"] > 0, (name, img)
        assert facts["mathErrors"] == 0 and not facts["rawTex"], name
        if name.startswith("notebooks/") and not name.startswith("notebooks/latents"):  # figures say what they show
            assert all(a and not a.startswith(("..", "_images")) for a in facts["alts"]), (name, facts["alts"])
        if facts["math"]:
            assert facts["typeset"] >= facts["math"], (name, facts["math"], facts["typeset"])
        assert shot.stat().st_size > 10_000
    # Pages that must show particular things.
    assert seen["method"]["typeset"] >= 10  # Eqs. 1-3 and the model's equations
    assert seen["notebooks/05_steering"]["typeset"] > 0
    assert len(seen["notebooks/03_identification"]["images"]) >= 4  # Figs. 2a, 2b, 3a, 3b
    assert len(seen["notebooks/04_splitting"]["images"]) >= 1  # the static alluvial
    # The interactive Sankey is drawn: one SVG path per link of the notebook's table, one node each.
    links = pd.read_csv(OUT / "tables" / "splitting_k20_links.csv")
    nodes = {(r.source_dim, r.source) for r in links.itertuples()} | {(r.target_dim, r.target) for r in links.itertuples()}
    assert seen["notebooks/04_splitting"]["plotly"] >= 1
    assert seen["notebooks/04_splitting"]["sankeyLinks"] == len(links)
    assert seen["notebooks/04_splitting"]["sankeyNodes"] == len(nodes)
    assert len(seen["notebooks/05_steering"]["images"]) >= 4  # Figs. 5, 6 and the two sweeps
    assert any("sae.svg" in i["src"] for i in seen["method"]["images"])
    assert len(seen["notebooks/06_audio"]["images"]) >= 1  # the segmentation figure


def test_the_catalogue_sorts_and_links_to_latent_pages_with_playable_audio(html, browser):
    """Chapter 11: clicking a header sorts the table (numbers as numbers, a second click reverses);
    every link opens a latent page that reads cleanly; the audio pages' clips load and last 4-8 s."""
    chapter = html / "book" / "notebooks" / "11_catalogue.html"
    page = browser.new_page()
    page.goto(chapter.as_uri(), wait_until="load")
    col = page.evaluate("() => Array.from(document.querySelectorAll('#catalogue th')).findIndex(h => h.textContent === 'firing_pct')")
    assert col > 0

    def column():
        return page.evaluate(f"() => Array.from(document.querySelectorAll('#catalogue tbody tr')).map(r => parseFloat(r.cells[{col}].getAttribute('data-v')))")
    before = column()
    assert len(before) == 200 and before != sorted(before)  # latent order, not firing order
    page.click(f"#catalogue th:nth-child({col + 1})")
    assert column() == sorted(before)
    page.click(f"#catalogue th:nth-child({col + 1})")
    assert column() == sorted(before, reverse=True)
    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('#catalogue a, #catalogue-audio a')).map(a => a.href)")
    page.close()
    assert len(hrefs) == 6 + 3  # the chapter's catalogue_pages and audio_pages
    audio_pages = [h for h in hrefs if "/latents/audio_" in h]
    assert len(audio_pages) == 3
    for href in hrefs:
        target = Path(href.removeprefix("file://"))
        facts = read(browser, target, OUT / "screenshots" / f"latent_{target.stem}.png")
        assert facts["problems"] == [] and len(facts["images"]) >= 1, (target.name, facts["problems"])
    page = browser.new_page()
    page.goto(audio_pages[0], wait_until="load")
    durations = page.evaluate("""() => Promise.all(Array.from(document.querySelectorAll('audio')).map(a =>
        new Promise(ok => { if (a.readyState >= 1) ok(a.duration); else { a.addEventListener('loadedmetadata', () => ok(a.duration));
                                                                       a.load(); } })))""")
    page.close()
    assert 1 <= len(durations) <= 4 and all(4.0 <= d <= 8.05 for d in durations), durations


CHAPTERS = [p for p in PAGES if p.startswith("notebooks/")]


def test_code_is_folded_until_a_click_shows_it(html, browser):
    """A chapter opens with its argument and figures; each code cell is one click away."""
    page = browser.new_page()
    page.goto((html / "book" / "notebooks" / "03_identification.html").resolve().as_uri(), wait_until="load")
    inputs = page.locator("div.cell_input")
    assert inputs.count() >= 3
    assert not any(inputs.nth(i).is_visible() for i in range(inputs.count()))
    assert "check_parameters" not in page.inner_text("article")  # folded code is not in the text a reader sees
    toggle = page.locator("details.above-input > summary").first
    toggle.click()
    assert inputs.first.is_visible()
    assert "from voicesae_core" in inputs.first.inner_text()
    page.close()


def test_no_page_shows_the_parameters_or_a_path_of_the_build_machine(html):
    for f in html.rglob("*.html"):
        text = f.read_text(errors="replace")
        assert str(REPO) not in text, f"{f.relative_to(html)} shows {REPO}"
        assert "/tmp/" not in text, f"{f.relative_to(html)} shows a /tmp path"
        assert "# Parameters" not in text and 'output_dir = "out/paper-full"' not in text, f.relative_to(html)
        # Captions carry the paper's numbers (Fig. 2a); a Sphinx number before them ("Fig. 7 Fig. 2a") misleads.
        assert 'class="caption-number"' not in text, f.relative_to(html)


def test_every_chapter_says_how_to_reproduce_it_and_links_its_downloads(html):
    from bs4 import BeautifulSoup
    for chapter in CHAPTERS:
        if chapter.startswith("notebooks/latents"):
            continue
        name = chapter.removeprefix("notebooks/")
        page = html / "book" / f"{chapter}.html"
        soup = BeautifulSoup(page.read_text(), "html.parser")
        box = soup.find("div", class_="admonition")
        assert box and "Reproduce this chapter" in box.get_text(), name
        assert "--study studies/paper-quick.yml --only" in box.get_text() and name in box.get_text(), name
        links = [a["href"] for a in soup.select("ul.voicesae-downloads a")]
        assert links and links[0].endswith(f"{name}.ipynb"), name
        for href in links:
            assert (page.parent / href).resolve().is_file(), (name, href)
        run = OUT / "notebooks" / f"{name}.run.json"
        if run.is_file():  # every figure and table the chapter wrote is offered
            import json
            wrote = json.loads(run.read_text())["files"]
            assert len(links) == 1 + len(wrote), (name, wrote, links)


def test_the_provenance_page_lists_every_chapter_and_the_inputs(html):
    from bs4 import BeautifulSoup
    soup = BeautifulSoup((html / "book" / "provenance.html").read_text(), "html.parser")
    text = soup.get_text()
    for chapter in CHAPTERS:
        if not chapter.startswith("notebooks/latents"):
            assert soup.find("a", href=re.compile(chapter.removeprefix("notebooks/") + r"\.html")), chapter
    from voicesae_core.files import sha256_file
    assert sha256_file(QUICK_STUDY)[:16] in text
    for package in ("voicesae", "torch", "nemo_toolkit", "numpy", "scikit-learn"):
        assert package in text
    assert re.search(r"\d+ of 42 SAEs of the grid converged", text)


def test_the_scorecard_on_the_front_page_shows_the_chapters_numbers(html):
    from bs4 import BeautifulSoup
    soup = BeautifulSoup((html / "book" / "index.html").read_text(), "html.parser")
    table = soup.find(id=re.compile("^scorecard")).find_next("table")
    rows = [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in table.tbody.find_all("tr")]
    assert len(rows) >= 8 and all(tr.find("a", href=re.compile(r"notebooks/\d\d_\w+\.html")) for tr in table.tbody.find_all("tr"))
    single = pd.read_csv(OUT / "tables" / "identification_single_L200_k20.csv", index_col=0)
    for (_, r), name in zip(single.iterrows(), ["Spanish", "music"]):
        row = next(x for x in rows if x[0].startswith(f"One latent alone predicts {name}"))
        assert f"phi {r['phi']}: precision {r['precision %']:.1f} %" in row[2] and f"recall {r['recall %']:.1f} %" in row[2]
        assert "precision: " in row[3] and "recall: " in row[3]
    for table_name, feature, name in (("tableiii", "language", "Spanish"), ("tableiv", "music", "music")):
        t = pd.read_csv(OUT / "tables" / f"{table_name}_steering_{feature}.csv", header=[0, 1], index_col=0)
        row = next(x for x in rows if x[0].startswith("Switching the latent steers " + name))
        ours = t["ours"].loc[name]
        assert f"{name} {ours['delta_s_before']:+.3f} -> {ours['delta_s_after']:+.3f}" in row[2]
        flips = all(t["ours"]["delta_s_before"] * t["ours"]["delta_s_after"] < 0)
        assert row[3].startswith("agrees" if flips else "differs")
    assert soup.find(string=re.compile("Beyond the paper"))


def test_a_rebuild_skips_the_unchanged_notebooks(html):
    assert book.execute(QUICK_STUDY, OUT, quiet=True) == []  # nothing changed since the fixture's build


def test_keys_change_from_the_changed_notebook_on(tmp_path):
    from voicesae_core.report import pipeline
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    quick = study.load(QUICK_STUDY)
    quick.sources = str(tmp_path)  # the same study, reading a copy of the notebooks
    before = book.notebook_keys(quick)
    assert before == book.notebook_keys(quick)  # deterministic
    with open(tmp_path / "notebooks" / "04_splitting.py", "a") as f:
        f.write("\n# an edit\n")
    after = book.notebook_keys(quick)
    assert [n for n in pipeline.ORDER if before[n] != after[n]] == pipeline.ORDER[pipeline.ORDER.index("04_splitting"):]
    other = book.notebook_keys(study.override(quick, {"ks": [5, 20]}))
    assert all(other[n] != after[n] for n in pipeline.ORDER)  # a study key reaches every notebook
    with open(tmp_path / "notebooks" / "latent_page.py", "a") as f:  # the catalogue's template is part of its key
        f.write("\n# an edit\n")
    assert ([n for n, key in book.notebook_keys(quick).items() if key != after[n]]
            == pipeline.ORDER[pipeline.ORDER.index("11_catalogue"):])  # the chapters from it on

def test_another_speaker_models_data_are_an_input_of_every_chapter(tmp_path):
    import json
    quick = study.load(QUICK_STUDY)
    path = quick.other_manifest_path("synthetic model B", "sae_train")
    copy = tmp_path / path.name
    copy.write_text(path.read_text())
    models = {"synthetic model B": {"sae_train": str(copy)}}
    mine = study.override(quick, {"chapters.universality.models": models})
    before = book.notebook_keys(mine)
    m = json.loads(copy.read_text())
    m["description"] += " (edited)"
    copy.write_text(json.dumps(m))
    after = book.notebook_keys(mine)
    assert all(before[n] != after[n] for n in before)
