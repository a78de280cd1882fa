"""The robustness chapter's comparison of noise-ceiling estimators.

Every run writes, per area, the median and SD of all three estimators of
:func:`analysis.rdm.split_half_ceilings` on the same random splits (the ceilings table,
:mod:`analysis.tables`). This module shows them side by side for the reference protocol and
states, computed, which conclusions depend on the choice: the species comparison does not
use the ceiling at all; whether a best layer "reaches the ceiling" and the noise-corrected
scores (score / median ceiling) do.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analysis import rdm, tables
from analysis.report.figures.style import REFERENCE
from analysis.report.markdown import STIMULUS_LABELS, markdown_table
from analysis.report.results import record_read, source_and_grid

#: Display names of the estimators.
ESTIMATOR_LABELS: dict[str, str] = {"row0": "row 0 (the original's code)", "split_half": "full RDM",
                                    "spearman_brown": "full RDM, Spearman-Brown"}


def load_ceilings(source: str, grid: Sequence[tuple[str, int]], protocol: str = REFERENCE
                  ) -> tuple[pd.DataFrame, list]:
    """The ceilings tables of ``protocol`` over ``grid`` (concatenated) and the missing paths."""
    frames, missing = [], []
    for stimulus, depth in grid:
        path = tables.results_path(source, stimulus, depth, protocol=protocol, kind="ceilings")
        record_read(path)
        if path.is_file():
            frames.append(pd.read_csv(path))
        else:
            missing.append(path)
    cols = list(tables.CEILING_COLUMNS)
    return (pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)), missing


def estimator_frame(ceilings: pd.DataFrame, robustness: pd.DataFrame, protocol: str = REFERENCE) -> pd.DataFrame:
    """One row per stimulus x depth x area: each estimator's median and SD, the best layers'
    upper end (the higher species' 95 % upper bound) and, per estimator, whether it reaches the
    band's lower edge (median - SD) and the best score as a share of the median."""
    wide = ceilings.pivot_table(index=["stimulus", "depth", "area"], columns="estimator",
                                values=["median", "sd"], aggfunc="first")
    rob = robustness[robustness["protocol"] == protocol].set_index(["stimulus", "depth", "area"])
    rows = []
    for key in wide.index:
        if key not in rob.index:
            continue
        r = rob.loc[key]
        upper = float(np.nanmax([r["upper_rat"], r["upper_treeshrew"]]))
        best = float(np.nanmax([r["score_rat"], r["score_treeshrew"]]))
        row = dict(zip(("stimulus", "depth", "area"), key), upper=upper, best=best)
        for e in rdm.CEILING_ESTIMATORS:
            med, sd = float(wide.loc[key, ("median", e)]), float(wide.loc[key, ("sd", e)])
            row.update({f"{e}_median": med, f"{e}_sd": sd, f"{e}_reaches": upper >= med - sd,
                        f"{e}_share": best / med if med else np.nan})
        rows.append(row)
    return pd.DataFrame(rows)


def estimators_markdown(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None) -> str:
    """The estimators table and the computed statement of what depends on the choice."""
    from analysis.report.robustness import robustness_frame

    source, grid = source_and_grid(source, grid)
    ceilings, missing = load_ceilings(source, grid)
    if ceilings.empty:
        return ("No ceilings table exists for this build (the runs predate it); rerun "
                "`python -m analysis results` to write them.\n")
    frame = estimator_frame(ceilings, robustness_frame(source, grid)[0])
    if frame.empty:
        return "No area has both a ceilings table and best-layer scores.\n"
    show = pd.DataFrame({
        "stimulus": [STIMULUS_LABELS.get(s, s) for s in frame["stimulus"]], "depth (µm)": frame["depth"],
        "area": frame["area"],
        **{ESTIMATOR_LABELS[e]: [f"{m:.3f} ± {d:.3f}" for m, d in zip(frame[f"{e}_median"], frame[f"{e}_sd"])]
           for e in rdm.CEILING_ESTIMATORS},
        "best-layer upper end": [f"{u:.3f}" for u in frame["upper"]],
    })
    n = len(frame)
    diff = (frame["row0_median"] - frame["split_half_median"]).abs()
    sd_ratio = frame["row0_sd"] / frame["split_half_sd"].where(frame["split_half_sd"] > 0)
    reach = {e: int(frame[f"{e}_reaches"].sum()) for e in rdm.CEILING_ESTIMATORS}
    flips = int((frame["row0_reaches"] != frame["split_half_reaches"]).sum())
    share = {e: (frame[f"{e}_share"].min(), frame[f"{e}_share"].max()) for e in rdm.CEILING_ESTIMATORS}
    text = [
        f"Each cell gives the median ± SD over the same {int(ceilings['n_splits'].iloc[0])} random splits "
        f"under the {REFERENCE} protocol's data: the row-0 estimator its tables report, the full-RDM "
        "split-half $\\tau_a$ its text described, and that value corrected to the full number of trials.",
        markdown_table(show, align="lrlllll"),
        f"Over the {n} area × stimulus × depth cells the row-0 median differs from the full-RDM median by "
        f"{diff.median():.3f} (median; range {diff.min():.3f}–{diff.max():.3f}) and its SD over splits is "
        f"{np.nanmedian(sd_ratio):.1f} times the full-RDM SD (median ratio): the original's grey bands are "
        "wider because its ceiling rests on condition 0's dissimilarities alone.",
        "The rat-versus-treeshrew comparisons do not use the ceiling, so no species conclusion depends on "
        "the estimator. What does: the best layer's upper end reaches the band's lower edge in "
        + ", ".join(f"{reach[e]} of {n} cells with the {ESTIMATOR_LABELS[e]} ceiling" for e in rdm.CEILING_ESTIMATORS)
        + f" ({flips} cell{'s' if flips != 1 else ''} change{'s' if flips == 1 else ''} between row 0 and the full RDM); "
        "the best score as a share of the ceiling (the noise-corrected figures) ranges "
        + ", ".join(f"{lo:.2f}–{hi:.2f} ({ESTIMATOR_LABELS[e]})" for e, (lo, hi) in share.items()) + ".",
    ]
    if missing:
        text.append("Ceilings tables missing for " + ", ".join(f"`{p.name}`" for p in missing) + ".")
    return "\n\n".join(text) + "\n"
