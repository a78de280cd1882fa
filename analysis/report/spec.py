"""What the book build needs to know about this study (:mod:`analysis.bookbuild` knows none of it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from analysis import config, study, tables
from analysis.report.markdown import STIMULUS_LABELS
from analysis.report.results import default_grid, validate_parameters

_ANALYSIS = Path(__file__).resolve().parent.parent
#: Modules outside :mod:`analysis.report` whose source the chapters' output depends on.
_CHAPTER_MODULES = ("__init__.py", "config.py", "protocols.py", "tables.py", "study.py")


def chapter_code() -> list[Path]:
    """The modules the chapters call (their source is part of the executed chapters' cache key)."""
    report = sorted(Path(__file__).resolve().parent.rglob("*.py"))
    return report + [_ANALYSIS / m for m in _CHAPTER_MODULES if (_ANALYSIS / m).is_file()]


def book_spec(grid: Sequence[tuple[str, int]] | None = None, source: str = "synthetic",
              cre_line: str = study.CRE_LINE, seed: int = study.SEED,
              require_results: bool = True) -> dict[str, Any]:
    """Validated keyword arguments of :func:`analysis.bookbuild.make_chapters` / ``render``.

    ``{grid, source, labels, parameters, code}``: the grid (default: every
    stimulus x depth), the stimuli's display labels, the template's other
    parameters (cre line, seed) and :func:`chapter_code`. Every grid cell is
    validated and, with ``require_results``, must have its result table, before
    anything runs (ValueError, FileNotFoundError).
    """
    cells = list(grid) if grid is not None else default_grid()
    if not cells:
        raise ValueError("the grid is empty; give at least one (stimulus, depth)")
    out: list[tuple[str, int]] = []
    for item in cells:
        if isinstance(item, str) or len(item) != 2:
            raise ValueError(f"grid entries must be (stimulus, depth) pairs; got {item!r}")
        p = validate_parameters(item[0], item[1], source, cre_line, seed)
        pair = (p["stimulus"], p["depth"])
        if pair in out:
            raise ValueError(f"grid lists {pair} twice")
        path = tables.results_path(source, *pair)
        if require_results and not path.is_file():
            raise FileNotFoundError(f"no result table {path} for {pair[0]} at {pair[1]} um; "
                                    "run the pipeline for it first")
        out.append(pair)
    return dict(grid=out, source=source, labels=dict(STIMULUS_LABELS),
                parameters=dict(cre_line=cre_line, seed=int(seed)), code=chapter_code())
