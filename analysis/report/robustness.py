"""The robustness chapter's content: the protocols compared over the book's grid (Markdown)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis.report import figures
from analysis.report.inference import relative_path
from analysis.report.markdown import STIMULUS_LABELS, SYNTHETIC_NOTICE, is_synthetic, markdown_table
from analysis.report.figures.style import ALTERNATIVE, REFERENCE
from analysis.report.results import load_protocol, source_and_grid


def robustness_frame(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`figures.robustness_data` of the book's grid and what is missing.

    Returns ``(frame, info)``; ``info`` holds the :func:`load_protocol` results
    (``original``, ``corrected``) for notes about absent tables.
    """
    source, grid = source_and_grid(source, grid)
    orig = load_protocol(source, grid, REFERENCE)
    corr = load_protocol(source, grid, ALTERNATIVE)
    cells = set(corr["cells"])
    keep = [i for i, cell in enumerate(orig["cells"]) if cell in cells]
    frame = figures.robustness_data([orig["tables"][i] for i in keep], corr["tables"],
                                    [orig["tests"][i] for i in keep], corr["tests"])
    return frame, {"original": orig, "corrected": corr, "source": source, "grid": list(grid)}


def missing_note(info: dict[str, Any]) -> str:
    corr = info["corrected"]
    notes = []
    if corr["missing"]:
        listed = ", ".join(f"`{relative_path(p)}`" for p in corr["missing"])
        what = "any stimulus × depth of this build" if not corr["cells"] else \
            f"{len(corr['missing'])} of {len(info['grid'])} stimulus × depth cells"
        notes.append(f"No corrected-protocol result table exists for {what} ({listed}); "
                     "run `python -m analysis run --stimulus S --depth D --protocol corrected` to "
                     "write them, then rebuild the book.")
    tests_missing = info["original"]["missing_tests"] + corr["missing_tests"]
    if tests_missing:
        notes.append("No tests table for " + ", ".join(f"`{relative_path(p)}`" for p in tests_missing)
                     + ": significance and intervals of the species difference are not shown there.")
    if not notes:
        return ""
    return '::: {.callout-note title="Tables not available"}\n' + "\n\n".join(notes) + "\n:::\n"


def robustness_markdown(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None) -> str:
    """The computed statements of which conclusions hold under both protocols (Markdown)."""
    frame, info = robustness_frame(source, grid)
    parts = [missing_note(info)] if missing_note(info) else []
    statements = figures.robustness_conclusions(frame)
    if not statements:
        parts.append("*No stimulus × depth has tables under both protocols: nothing to compare yet.*")
    else:
        parts.append("\n".join(f"- {x}" for x in statements))
        if is_synthetic(info["source"]):
            parts.append(f"These are **{SYNTHETIC_NOTICE}**: they show what the comparison computes, "
                         "not which conclusions hold for mouse visual cortex.")
    return "\n\n".join(parts) + "\n"


def robustness_table_markdown(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None) -> str:
    """Per stimulus x depth x area: best layers, difference and ceiling ratio under each protocol."""
    frame, _ = robustness_frame(source, grid)
    if not len(frame):
        return "*No stimulus × depth has a corrected-protocol table yet.*\n"
    rows = []
    for r in frame.itertuples(index=False):
        sig = "" if not r.tested else (" *" if bool(r.significant) else "")
        ci = f" [{r.ci_low:.3f}, {r.ci_high:.3f}]" if np.isfinite(r.ci_low) else ""
        rows.append({"stimulus": STIMULUS_LABELS.get(r.stimulus, r.stimulus), "depth": r.depth,
                     "area": r.area, "protocol": r.protocol,
                     "best layers (rat / treeshrew)": f"`{r.best_layer_rat}` / `{r.best_layer_treeshrew}`",
                     "rat − treeshrew": f"{r.difference:.3f}{ci}{sig}",
                     "score / ceiling (rat / treeshrew)": f"{r.ratio_rat:.0%} / {r.ratio_treeshrew:.0%}"})
    return markdown_table(pd.DataFrame(rows), align="lrllllr") + \
        "\n\n\\* significant after FDR (best-layer test); intervals are 95 % bootstrap intervals.\n"
