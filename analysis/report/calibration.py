"""The synthetic survey against the published noise ceilings (the robustness chapter's table).

For every stimulus x depth x area the original study published (:mod:`analysis.published`),
the reference protocol's noise ceiling on the book's data (median and +-1 SD band of the
row-0 estimator, as the original computed it) beside the published one, the full-RDM
ceiling on the same splits, and whether the two calibration criteria hold: the median
within :data:`~analysis.published.MEDIAN_TOLERANCE` and the band's width within a factor
:data:`~analysis.published.WIDTH_FACTOR` of the published band's.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analysis import published
from analysis.report.ceilings import load_ceilings
from analysis.report.figures.style import REFERENCE
from analysis.report.markdown import STIMULUS_LABELS, markdown_table
from analysis.report.results import source_and_grid


def published_comparison(ceilings: pd.DataFrame, estimator: str) -> pd.DataFrame:
    """One row per published cell present in ``ceilings`` (a ceilings table, see
    :mod:`analysis.tables`): published and synthetic medians and band widths, the full-RDM
    median, and the two criteria (``median_ok``, ``width_ok``)."""
    c = ceilings.set_index(["stimulus", "depth", "area", "estimator"])
    rows = []
    for (stimulus, depth), areas in published.NOISE_CEILINGS.items():
        for area, (med, lo, hi) in areas.items():
            key = (stimulus, depth, area, estimator)
            if key not in c.index:
                continue
            m, sd = float(c.loc[key, "median"]), float(c.loc[key, "sd"])
            full = c.loc[(stimulus, depth, area, "split_half"), "median"] \
                if (stimulus, depth, area, "split_half") in c.index else np.nan
            width, pub_width = 2 * sd, hi - lo
            ratio = width / pub_width if pub_width > 0 else np.nan
            rows.append(dict(stimulus=stimulus, depth=depth, area=area, published=med, published_width=pub_width,
                             synthetic=m, synthetic_width=width, full_rdm=float(full),
                             median_ok=abs(m - med) <= published.MEDIAN_TOLERANCE,
                             width_ok=bool(np.isfinite(ratio) and 1 / published.WIDTH_FACTOR <= ratio
                                           <= published.WIDTH_FACTOR), width_ratio=ratio))
    return pd.DataFrame(rows)


def published_markdown(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None) -> str:
    """The "synthetic vs published" table and how many cells meet each criterion."""
    from analysis import protocols

    source, grid = source_and_grid(source, grid)
    estimator = protocols.get_protocol(REFERENCE).ceiling
    ceilings, _ = load_ceilings(source, grid, REFERENCE)
    frame = published_comparison(ceilings, estimator) if len(ceilings) else pd.DataFrame()
    if frame.empty:
        return "No ceilings table covers a stimulus × depth the original study published.\n"
    show = pd.DataFrame({
        "stimulus": [STIMULUS_LABELS.get(s, s) for s in frame["stimulus"]], "depth (µm)": frame["depth"],
        "area": frame["area"],
        "published": [f"{m:.2f} (width {w:.2f})" for m, w in zip(frame["published"], frame["published_width"])],
        "this book": [f"{m:.2f} (width {w:.2f})" for m, w in zip(frame["synthetic"], frame["synthetic_width"])],
        "full RDM": [f"{m:.2f}" for m in frame["full_rdm"]],
        f"median within ±{published.MEDIAN_TOLERANCE:.2f}": ["yes" if v else "no" for v in frame["median_ok"]],
        f"width within ×{published.WIDTH_FACTOR:g}": ["yes" if v else "no" for v in frame["width_ok"]],
    })
    n = len(frame)
    return (
        f"The {REFERENCE} protocol's noise ceiling ({estimator} estimator, median and the width of its "
        f"±1 SD band) on this book's data beside the published one, read from the original's figures "
        f"(±{published.READING_PRECISION:.2f}), with the full-RDM ceiling on the same splits:\n\n"
        + markdown_table(show, align="lrllllll")
        + f"\n\nThe median lies within {published.MEDIAN_TOLERANCE:.2f} of the published one in "
        f"{int(frame['median_ok'].sum())} of {n} cells and the band's width within a factor "
        f"{published.WIDTH_FACTOR:g} in {int(frame['width_ok'].sum())} of {n}.\n")
