"""The book build (analysis.bookbuild) and its content (analysis.report): parameters, result
chapters, offline render (HTML + Typst PDF), caching.

Builds a small book (one stimulus x depth, fabricated results) in a temporary
copy of the book sources. The PDF is opened and its text read with pypdf.
"""

from __future__ import annotations

import html as html_lib
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from pypdf import PdfReader

from analysis import bookbuild, config, pipeline, report, study, tables
from analysis.bookbuild import quarto as bb_quarto
from analysis.bookbuild import site
from fabricate_results import fabricate_table, write_ground_truth, write_results, write_tests

SOURCES = ["_quarto.yml", "_site_local.py", "theme.scss", "index.qmd", "references.qmd", "references.bib", "chapters"]
GRID = [("natural_scenes", 175)]


def _copy_sources(dst: Path) -> Path:
    for name in SOURCES:
        src = config.PROJECT_ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("results", ".ipynb_checkpoints"))
        else:
            shutil.copy2(src, dst / name)
    return dst


@pytest.fixture(scope="module")
def built(tmp_path_factory, small_cache, real_checkpoints):
    """A small book: one stimulus x depth computed by the real pipeline on the small synthetic set."""
    mp = pytest.MonkeyPatch()
    root = _copy_sources(tmp_path_factory.mktemp("book"))
    mp.setenv("RSA_RESULTS", str(root / "results"))
    mp.delenv("QUARTO_PROFILE", raising=False)
    pipeline.run(pipeline.RunConfig("natural_scenes", 175, checkpoint_names=("rat1", "rat2", "ts1", "ts2"),
                                    n_brain_rdms=20, n_splits=20, n_boot=0), progress=False)
    # FABRICATED corrected-protocol tables (scores + tests, significance planted in VISp) so the
    # robustness chapter's comparison and significance text are exercised deterministically and
    # fast; the real corrected pipeline is tested in test_protocol_pipeline. The original
    # protocol's table above is the real pipeline's, without inference (n_boot=0: exercises the
    # tolerant "no intervals, no tests table" path).
    write_results("natural_scenes", 175, protocol="corrected", with_ci=True, tests=True,
                  significant_areas=("VISp",))
    logs: list[str] = []
    t0 = time.time()
    spec = report.book_spec(GRID, "synthetic")
    bookbuild.make_chapters(**spec, root=root, log=logs.append)
    res = bookbuild.render_offline(root, code=spec["code"], log=logs.append)
    res["spec"] = spec
    res["build_seconds"] = time.time() - t0
    res["root"] = root
    res["logs"] = logs
    yield res
    mp.undo()


def _html(res) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in res["pages"]}


def _pdf_text(pdf: Path) -> str:
    """Text of every page, through a real PDF parser (pypdf): the PDF must open."""
    reader = PdfReader(str(pdf))
    assert len(reader.pages) > 3
    return "\n".join(page.extract_text() for page in reader.pages)


# ---------------------------------------------------------------------------------------
# parameters


@pytest.mark.parametrize("kwargs, message", [
    (dict(stimulus="natural_sceens"), "valid stimulus values: natural_scenes, natural_movie_one"),
    (dict(depth=-5), "depth must be a positive integer"),
    (dict(depth="175"), "depth must be a positive integer"),
    (dict(source="allan"), "valid source values: synthetic, allen"),
    (dict(cre_line="Cux2"), "valid cre_line values"),
    (dict(seed=1.5), "seed must be a non-negative integer"),
])
def test_invalid_parameters_are_refused_with_the_valid_values(kwargs, message):
    params = dict(stimulus="natural_scenes", depth=175, source="synthetic", cre_line=study.CRE_LINE, seed=42)
    params.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        report.validate_parameters(**params)


def test_make_chapters_refuses_bad_grid_before_running(tmp_path):
    with pytest.raises(ValueError, match="unknown stimulus 'natural_movie_four'"):
        report.book_spec([("natural_movie_four", 175)])
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        report.book_spec([("natural_scenes", 0)])
    with pytest.raises(FileNotFoundError, match="run the pipeline for it first"):
        report.book_spec([("natural_scenes", 375)])
    # the build checks the grid itself too, against the labels it is given
    labels = {"natural_scenes": "Natural Scenes"}
    with pytest.raises(ValueError, match="unknown stimulus 'natural_movie_four'"):
        bookbuild.make_chapters([("natural_movie_four", 175)], "synthetic", labels, root=tmp_path)
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        bookbuild.make_chapters([("natural_scenes", 0)], "synthetic", labels, root=tmp_path)
    with pytest.raises(ValueError, match="twice"):
        bookbuild.make_chapters([("natural_scenes", 175)] * 2, "synthetic", labels, root=tmp_path)
    assert not (tmp_path / bookbuild.PROFILE_FILE).exists()


@pytest.mark.slow  # uses the built book (minutes)
def test_the_template_refuses_invalid_papermill_parameters(built, tmp_path, monkeypatch):
    import papermill as pm

    monkeypatch.setenv("PYTHONPATH", str(config.PROJECT_ROOT))  # the kernel imports analysis

    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(built["root"] / bookbuild.TEMPLATE), str(tmp_path / "out.ipynb"),
                            parameters=dict(stimulus="natural_scenes", depth=-1), kernel_name="python3",
                            progress_bar=False, cwd=str(tmp_path))
    assert "depth must be a positive integer" in str(err.value)


# ---------------------------------------------------------------------------------------
# chapter list follows the grid


@pytest.mark.slow  # uses the built book (minutes)
def test_chapter_list_follows_the_grid(built):
    root = built["root"]
    cfg = bookbuild.load_book_config(root)
    chapters = bookbuild.book_chapters(cfg)
    assert chapters == list(bookbuild.FRONT_CHAPTERS) + ["chapters/results/natural_scenes_175.ipynb"] \
        + ["chapters/robustness.qmd", "chapters/identifiability.qmd"] + list(bookbuild.BACK_CHAPTERS)
    assert (root / "chapters/results/natural_scenes_175.ipynb").is_file()
    assert "profile" in (root / "_quarto.yml").read_text() and "chapters:" not in \
        (root / "_quarto.yml").read_text().split("book:")[1].split("bibliography")[0]


# ---------------------------------------------------------------------------------------
# the rendered book


@pytest.mark.slow  # uses the built book (minutes)
def test_pages_exist_with_navigation(built):
    pages = _html(built)
    assert {"index.html", "background.html", "methods.html", "natural_scenes_175.html",
            "robustness.html", "conclusion.html", "references.html"} <= set(pages)
    for name, text in pages.items():
        assert 'href="natural_scenes_175.html"' in text, name


@pytest.mark.slow  # uses the built book (minutes)
def test_figures_are_interactive_in_html_and_static_in_pdf(built):
    pages = _html(built)
    res = pages["natural_scenes_175.html"]
    assert res.count("Plotly.newPlot") == 2
    assert '<script src="assets/plotly.min.js"></script>' in res
    assert (built["root"] / "_book/assets/plotly.min.js").stat().st_size > 1_000_000
    assert 'id="fig-rsa-natural-scenes-175"' in res and 'id="fig-rsa-corrected-natural-scenes-175"' in res
    pdf = built["pdf"].read_bytes()
    assert pdf[:5] == b"%PDF-"
    assert len(re.findall(rb"/Subtype\s*/Image", pdf)) >= 4  # 2 result + 2 summary figures


@pytest.mark.slow  # uses the built book (minutes)
def test_no_page_references_external_resources(built):
    bad = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", re.I)
    for name, text in _html(built).items():
        assert not bad.search(text), name
        assert "cdn." not in text.lower() and "mathjax" not in text.lower(), name


@pytest.mark.slow  # uses the built book (minutes)
def test_citations_and_cross_references_resolved(built):
    pages = _html(built)
    for name, text in pages.items():
        body = re.sub(r"<script.*?</script>", "", text, flags=re.S)
        assert "[@" not in body and "??" not in body, name
        assert not re.search(r"(?<![\w.])@(fig|sec|tbl)-", body), name
    assert "de Vries" in pages["references.html"] and "Kriegeskorte" in pages["references.html"]
    assert "Figure 3.1" in pages["natural_scenes_175.html"]
    assert 'href="#fig-rsa-natural-scenes-175"' in pages["natural_scenes_175.html"]
    assert 'href="conclusion.html#sec-conclusion"' in pages["index.html"]


@pytest.mark.slow  # uses the built book (minutes)
def test_pdf_text_has_chapters_banner_and_resolved_citations(built):
    text = _pdf_text(built["pdf"])
    for title in ("Preface", "Background", "Methods", "Natural Scenes, 175 µm", "Robustness", "Conclusion",
                  "References"):
        assert title in text, title
    flat = " ".join(text.split())
    assert "nothing here is a finding about mice" in flat
    assert "Figure 3.1" in flat and "Table 2.1" in flat
    assert "[@" not in text and "??" not in text
    assert "Kriegeskorte et al. 2008" in flat


@pytest.mark.slow  # uses the built book (minutes)
def test_synthetic_banner_and_computed_text(built):
    res = _html(built)["natural_scenes_175.html"]
    assert "nothing here is a finding about mice" in res
    assert re.search(r"scores higher than the best layer of the treeshrew-trained networks in \d of 5 areas", res)
    conclusion = _html(built)["conclusion.html"]
    assert "These results come from synthetic data: nothing here is a finding about mice." in conclusion


@pytest.mark.slow  # uses the built book (minutes)
def test_robustness_chapter(built):
    pages = _html(built)
    rob = pages["robustness.html"]
    assert rob.count("Plotly.newPlot") == 1 and 'id="fig-robustness"' in rob
    assert '<script src="assets/plotly.min.js"></script>' in rob
    assert "keep_aspect" in rob and "spearman_brown" in rob  # computed from analysis.protocols
    assert re.search(r"rat &gt; treeshrew at the best layers in \d of 5 area × condition comparisons "
                     r"under both protocols", rob)
    assert "Significance cannot be compared in 5 of 5 comparisons" in rob  # no original tests table
    assert "No tests table for" in rob and "natural_scenes_175_tests.csv" in rob
    assert "nothing here is a finding about mice" in rob
    ident = pages["identifiability.html"]  # the ground truth moved into the identifiability chapter
    assert "Ground truth not available" in ident and "ground_truth.csv" in ident
    assert "Identifiability study not available" in ident and "identifiability_layers.csv" in ident
    assert 'href="identifiability.html#sec-identifiability"' in rob
    assert 'href="robustness.html#sec-robustness"' in pages["conclusion.html"]
    # the result chapter shows the tolerant path: no intervals, no tests
    assert "Inference not available" in pages["natural_scenes_175.html"]


def test_book_helpers_tolerate_old_tables_and_show_tests(isolated_env):
    write_results("natural_scenes", 275)  # old layout: no ci columns, no protocol, no tests
    old = tables.results_path("synthetic", "natural_scenes", 275)
    t = __import__("pandas").read_csv(old).drop(columns=["protocol"])
    t.to_csv(old, index=False)
    table, _ = report.load_results("synthetic", "natural_scenes", 275)
    assert table["ci_low"].isna().all() and set(table["protocol"]) == {"original"}
    assert report.load_tests("synthetic", "natural_scenes", 275) is None
    assert "Inference not available" in report.tests_markdown(None, table)
    write_tests(fabricate_table("natural_scenes", 275, with_ci=True), significant_areas=("VISl", "VISam"),
                significant_layers={"VISp": ["s1"]})
    tests = report.load_tests("synthetic", "natural_scenes", 275)
    assert tests["significant"].dtype == bool and int(tests["significant"].sum()) == 3
    md = report.tests_markdown(tests, table)
    assert "significant at 1 of 70 area × layer tests and at the best layers in 2 of 5 areas" in md
    with pytest.raises(FileNotFoundError, match="--protocol corrected"):
        report.load_results("synthetic", "natural_scenes", 275, protocol="corrected")
    assert "Ground truth not available" in report.ground_truth_markdown("synthetic")
    write_ground_truth("synthetic")
    gt = report.ground_truth_markdown("synthetic")
    assert "In 1 of 2 planted areas the pipeline recovered the planted layer" in gt
    assert "and in 1 the upper end" in gt and "`p2_res_block4`" in gt
    changes = report.protocol_changes_markdown()
    assert "`keep_aspect` | `False` | `True`" in changes and "`match_cells`" in changes
    grid = [("natural_scenes", 275)]
    assert "No corrected-protocol result table exists for any stimulus × depth" in \
        report.robustness_markdown("synthetic", grid)
    write_results("natural_scenes", 275, protocol="corrected", with_ci=True, tests=True)
    text = report.robustness_markdown("synthetic", grid)
    assert "of 5 area × condition comparisons under both protocols" in text
    assert "significant under both protocols in 0 of 5 comparisons (original: 2, corrected: 0)" in text
    assert report.robustness_table_markdown("synthetic", grid).count("| Natural Scenes | 275 |") == 10


# ---------------------------------------------------------------------------------------
# the same book rendered by Quarto (whenever a quarto executable is available)


@pytest.fixture(scope="module")
def quarto_built(built, tmp_path_factory):
    """The test book rendered with ``quarto render`` (a copy of ``built``'s sources and chapters)."""
    quarto = bb_quarto.quarto_executable()
    if not quarto:
        pytest.skip("no quarto executable (on PATH or RSA_QUARTO): the Quarto render is not tested")
    root = tmp_path_factory.mktemp("qbook")
    shutil.copytree(built["root"], root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("_book", "_build"))
    res = bb_quarto.quarto_render(root, quarto)
    res["root"] = root
    return res


@pytest.fixture(scope="module", params=["offline", "quarto"])
def rendered(request):
    """Each renderer's book in turn (Quarto's skips without a quarto executable)."""
    return request.getfixturevalue("built" if request.param == "offline" else "quarto_built")


def _visible(text: str) -> str:
    body = re.sub(r"<(script|style|nav|header|footer)\b.*?</\1>", " ", text, flags=re.S | re.I)
    body = re.sub(r'<div[^>]*id="quarto-sidebar".*?</nav>', " ", body, flags=re.S)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", body)).split())  # nbsp -> space


def _paragraphs(text: str) -> str:
    """The text of a page's paragraphs and table cells (prose and computed numbers, no chrome)."""
    main = re.search(r"<main\b.*?</main>", text, flags=re.S)
    main = main.group(0) if main else text
    main = re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S)
    main = re.sub(r'<span class="citation".*?</span>', " ", main, flags=re.S)  # (linked) citations
    main = re.sub(r'<header\b.*?</header>', " ", main, flags=re.S)  # Quarto's title block (date)
    main = re.sub(r'<div[^>]*(id="refs"|class="[^"]*csl-bib-body).*', " ", main, flags=re.S)  # reference list
    parts = re.findall(r"<(p|td)\b[^>]*>(.*?)</\1>", main, flags=re.S)
    return " ".join(" ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", x)).split()) for _, x in parts)


@pytest.mark.slow  # uses the built book (minutes)
def test_no_page_loads_anything_from_another_host(rendered):
    pages = list(rendered["pages"])
    assert len(pages) >= 7
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert site.external_references(text) == [], page
        for tag, attr, url in re.findall(r"<(script|link|img)\b[^>]*?\b(src|href)=\"([^\"]*)\"", text):
            assert not site.is_external(url), (page, url)
            if not url.startswith("data:"):  # and what it loads is in the site
                assert (page.parent / urlsplit(url).path).is_file(), (page, url)
    assert (rendered["root"] / "_book/assets/katex/katex.min.js").is_file()
    assert list((rendered["root"] / "_book/assets/katex/fonts").glob("*.woff2"))
    maths = [p for p in pages if 'class="math' in p.read_text(encoding="utf-8")]
    assert {p.name for p in maths} >= {"background.html", "robustness.html"}
    for p in maths:
        assert "katex.min.js" in p.read_text(encoding="utf-8"), p


@pytest.mark.slow  # uses the built book (minutes)
def test_one_references_section_in_html_and_pdf(rendered):
    pages = {p.name: p.read_text(encoding="utf-8") for p in rendered["pages"]}
    with_list = [n for n, t in pages.items() if 'id="ref-' in t]
    assert with_list == ["references.html"], with_list
    assert pages["references.html"].count('id="refs"') == 1
    text = _pdf_text(rendered["pdf"])
    lines = [ln.strip() for ln in text.splitlines()]
    assert "Bibliography" not in text
    assert "Kriegeskorte et al. 2008" in " ".join(text.split())  # author-date citations (citeproc)
    # the references chapter holds the list: its heading is followed by entries, once
    heads = [i for i, ln in enumerate(lines) if re.fullmatch(r"(\d+\s+)?References", ln)]
    assert heads, lines[-40:]
    entries = " ".join(lines[heads[-1]:])
    assert "Kriegeskorte" in entries and "de Vries" in entries
    assert " ".join(text.split()).count("Kriegeskorte, Nikolaus") == 1


@pytest.mark.slow  # uses the built book (minutes)
def test_quarto_and_offline_books_agree(built, quarto_built):
    off = {p.name: p.read_text(encoding="utf-8") for p in built["pages"]}
    qua = {p.name: p.read_text(encoding="utf-8") for p in quarto_built["pages"]}
    assert set(off) == set(qua)
    number = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")
    for name in off:
        a, b = _visible(off[name]), _visible(qua[name])
        for kind in ("Figure", "Table"):
            assert sorted(set(re.findall(rf"{kind}\s+\d+\.\d+", a))) == \
                sorted(set(re.findall(rf"{kind}\s+\d+\.\d+", b))), (name, kind)
        pa, pb = _paragraphs(off[name]), _paragraphs(qua[name])
        assert sorted(number.findall(pa)) == sorted(number.findall(pb)), name
        assert off[name].count("Plotly.newPlot") == qua[name].count("Plotly.newPlot"), name
    ta, tb = (" ".join(_pdf_text(r["pdf"]).split()) for r in (built, quarto_built))
    for needle in ("Figure 3.1", "Table 2.1", "nothing here is a finding about mice"):
        assert needle in ta and needle in tb


def test_gitignore_covers_what_the_build_writes():
    ignored = (config.PROJECT_ROOT / ".gitignore").read_text().split()
    for entry in ("/.quarto/", "_freeze/", "_book/", "_build/", "assets/", "_quarto-grid.yml",
                  "chapters/results/", "node_modules/"):
        assert entry in ignored, entry


def test_quarto_gets_this_python(monkeypatch, tmp_path):
    import sys

    monkeypatch.setenv("QUARTO_PYTHON", "/somewhere/else/python")
    env = bb_quarto.quarto_environment(tmp_path)
    assert env["QUARTO_PYTHON"] == sys.executable and env[bookbuild.layout.ENV_ROOT] == str(tmp_path)
    monkeypatch.setenv("RSA_QUARTO", str(tmp_path / "no-quarto"))
    with pytest.raises(bookbuild.BookBuildError, match="RSA_QUARTO"):
        bb_quarto.quarto_executable()


# ---------------------------------------------------------------------------------------
# the site in a real browser (headless Chromium driven by Playwright)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    if not exe:
        pytest.skip("no chromium found (apt-get install -y chromium): the browser test needs one")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


def _serve(folder: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.slow  # uses the built book (minutes)
def test_every_page_works_in_a_browser(rendered, browser, request):
    out = rendered["root"] / "_book"
    renderer = request.node.callspec.params["rendered"]
    shots = Path(os.environ.get("RSA_SCREENSHOTS") or config.PROJECT_ROOT / "tests" / "artifacts")
    shots.mkdir(parents=True, exist_ok=True)
    server = _serve(out)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors, failed, bad_status = [], [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.on("response", lambda r: bad_status.append((r.status, r.url)) if r.status >= 400 else None)
        links: set[str] = set()
        for path in sorted(rendered["pages"]):
            rel = path.relative_to(out).as_posix()
            text = path.read_text(encoding="utf-8")
            page.goto(base + rel, wait_until="networkidle")
            n_plots = text.count("Plotly.newPlot")
            if n_plots:
                page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n_plots}",
                                       timeout=20000)
                traces = page.eval_on_selector_all(
                    ".js-plotly-plot", "els => els.map(e => e.querySelectorAll('.trace').length)")
                assert len(traces) == n_plots and min(traces) > 0, (rel, traces)
            if 'class="math' in text:
                page.wait_for_function("document.querySelectorAll('.katex').length > 0", timeout=10000)
                n_math = page.eval_on_selector_all("span.math", "els => els.length")
                n_katex = page.eval_on_selector_all("span.math .katex", "els => els.length")
                assert n_katex == n_math > 0, (rel, n_math, n_katex)
            visible = page.inner_text("body")
            assert "\\(" not in visible and "\\tau" not in visible and "$\\tau" not in visible, rel
            if path.name == "natural_scenes_175.html":
                page.screenshot(path=str(shots / f"natural_scenes_175-{renderer}.png"), full_page=True)
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                if href.startswith(base):
                    links.add(href.split("#")[0])
        page.close()
        assert errors == [] and failed == [] and bad_status == [], (errors, failed, bad_status)
        assert len(links) >= 7
        for link in sorted(links):
            with urllib.request.urlopen(link, timeout=10) as resp:
                assert resp.status == 200, link
        assert (shots / f"natural_scenes_175-{renderer}.png").stat().st_size > 20_000
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------
# caching and errors (these tests change the sources; they run last)


@pytest.mark.slow  # uses the built book (minutes)
def test_rebuild_with_nothing_changed_executes_nothing(built):
    root, logs = built["root"], []
    t0 = time.time()
    bookbuild.make_chapters(**built["spec"], root=root, log=logs.append)
    bookbuild.render_offline(root, code=built["spec"]["code"], log=logs.append)
    assert not any("executed" in m for m in logs), logs
    assert time.time() - t0 < 0.5 * built["build_seconds"] + 5


@pytest.mark.slow  # uses the built book (minutes)
def test_changing_one_chapter_re_executes_only_that_chapter(built):
    root, logs = built["root"], []
    methods = root / "chapters/methods.qmd"
    methods.write_text(methods.read_text() + "\nOne more sentence.\n")
    bookbuild.make_chapters(**built["spec"], root=root, log=logs.append)
    bookbuild.render_offline(root, formats=("html",), code=built["spec"]["code"], log=logs.append)
    executed = [m for m in logs if "executed" in m]
    assert len(executed) == 1 and "chapters/methods.qmd" in executed[0], logs
    assert "One more sentence." in (root / "_book/methods.html").read_text()


@pytest.mark.slow  # uses the built book (minutes)
def test_changed_result_table_re_executes_its_readers(built):
    root, logs = built["root"], []
    path = tables.results_path("synthetic", "natural_scenes", 175)
    path.write_text(path.read_text().replace("Cux2-CreERT2", "Cux2-CreERT2", 1) + "\n")
    bookbuild.make_chapters(**built["spec"], root=root, log=logs.append)
    bookbuild.render_offline(root, formats=("html",), code=built["spec"]["code"], log=logs.append)
    executed = " ".join(m for m in logs if "executed" in m)
    assert "natural_scenes_175" in executed and "conclusion.qmd" in executed and "methods.qmd" in executed
    assert "background.qmd" not in executed


@pytest.mark.slow  # uses the built book (minutes)
def test_optional_table_appearing_re_executes_only_its_reader(built):
    root, logs = built["root"], []
    write_ground_truth("synthetic")  # was absent at the first build
    bookbuild.make_chapters(**built["spec"], root=root, log=logs.append)
    bookbuild.render_offline(root, formats=("html",), code=built["spec"]["code"], log=logs.append)
    executed = [m for m in logs if "executed" in m]
    assert len(executed) == 1 and "chapters/identifiability.qmd" in executed[0], logs
    assert "planted areas the pipeline recovered the planted layer" in (root / "_book/identifiability.html").read_text()


@pytest.mark.slow  # uses the built book (minutes)
def test_failing_cell_stops_the_build_naming_chapter_and_cell(built):
    root = built["root"]
    bg = root / "chapters/background.qmd"
    original = bg.read_text()
    bg.write_text(original + "\n```{python}\n#| label: broken\n1 / 0\n```\n")
    try:
        with pytest.raises(bookbuild.BookBuildError, match=r"chapters/background\.qmd: cell \d+ \(label broken\)"
                                                      r".*ZeroDivisionError"):
            bookbuild.render_offline(root, formats=("html",), code=built["spec"]["code"], log=lambda m: None)
    finally:
        bg.write_text(original)
