"""Layering of the package: the book build imports no science, computation imports no rendering.

Scans the import statements (the AST, imports inside functions included) of every module:

* ``analysis.bookbuild`` (the book build) may import, of the package, only itself and
  :mod:`analysis.fileio`: no science module (pipeline, rdm, compare, stats, features,
  models, responses, synthetic, allen, ground_truth, ...), not :mod:`analysis.report`,
  not even :mod:`analysis.config` (the study's vocabulary arrives as arguments), and no
  numerical library.
* No module outside ``analysis.report`` and ``analysis.bookbuild`` imports either of them,
  matplotlib, plotly or seaborn; the one exception is the command line
  (:mod:`analysis.cli`, :data:`COMPOSITION_ROOTS`), which runs the pipeline and then the build.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "analysis"
#: What a book-build module may import from the package (besides analysis.bookbuild itself).
BOOKBUILD_MAY_IMPORT = {"analysis.fileio"}
#: Numerical and plotting libraries the book build never imports.
BOOKBUILD_NEVER = {"numpy", "pandas", "scipy", "torch", "statsmodels", "numba", "rsatoolbox", "allensdk",
                   "matplotlib", "plotly", "seaborn", "dask"}
#: Modules that compose computation and the book (the command line); exempt from the second rule.
COMPOSITION_ROOTS = {"analysis.cli"}
#: What computation never imports.
RENDERING = ("analysis.report", "analysis.bookbuild", "matplotlib", "plotly", "seaborn")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of everything a module imports (``from a import b`` gives ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}
    return found


def _is(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _modules(where: Path) -> list[Path]:
    return sorted(p for p in where.rglob("*.py") if "__pycache__" not in p.parts)


BOOKBUILD = _modules(PACKAGE / "bookbuild")
COMPUTATION = [p for p in _modules(PACKAGE)
               if not any(_is(_module_name(p), s) for s in ("analysis.report", "analysis.bookbuild"))
               and _module_name(p) not in COMPOSITION_ROOTS]


def test_the_scan_sees_the_layers():
    assert len(BOOKBUILD) >= 5 and PACKAGE / "bookbuild" / "offline.py" in BOOKBUILD
    assert PACKAGE / "pipeline.py" in COMPUTATION and PACKAGE / "ground_truth.py" in COMPUTATION
    assert not any("report" in p.parts or "bookbuild" in p.parts for p in COMPUTATION)
    # the scanner itself: relative, absolute and in-function imports are all seen
    assert {"analysis.report", "analysis.report.figures"} <= imports_of(PACKAGE / "report" / "show.py")
    assert "analysis.bookbuild.keys" in imports_of(PACKAGE / "bookbuild" / "chapters.py")
    assert "papermill" in imports_of(PACKAGE / "bookbuild" / "chapters.py")  # imported inside a function


@pytest.mark.parametrize("path", BOOKBUILD, ids=lambda p: p.name)
def test_the_book_build_imports_no_science(path):
    bad = sorted(
        name for name in imports_of(path)
        if (_is(name, "analysis") and not _is(name, "analysis.bookbuild") and name != "analysis"
            and not any(_is(name, ok) for ok in BOOKBUILD_MAY_IMPORT))
        or name.split(".")[0] in BOOKBUILD_NEVER
    )
    assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {bad}"


@pytest.mark.parametrize("path", COMPUTATION, ids=lambda p: p.name)
def test_computation_imports_no_rendering(path):
    bad = sorted(n for n in imports_of(path) if any(_is(n, r) for r in RENDERING))
    assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {bad}"


def test_importing_the_book_build_loads_no_numerical_library():
    code = ("import sys, analysis.bookbuild; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in %r or m.startswith('analysis.report')))"
            % sorted(BOOKBUILD_NEVER))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent)
    assert out.stdout.strip() == "[]", out.stdout


def test_lua_filter_and_page_style_are_shipped_package_data():
    from analysis.bookbuild import offline

    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["analysis.bookbuild"]
    for f in (offline.LUA_FILTER, offline.PAGE_CSS):
        assert f.is_file() and f.stat().st_size > 100, f
        rel = f.relative_to(PACKAGE / "bookbuild").as_posix()
        assert any(fnmatch(rel, g) for g in globs), (rel, globs)
    assert "pandoc.Figure" in offline.LUA_FILTER.read_text() and "nav.sidebar" in offline.PAGE_CSS.read_text()
