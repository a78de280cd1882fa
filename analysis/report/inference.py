"""Markdown of the optional tables: inference notes, the tests, the protocols' settings, ground truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import config
from analysis.report.markdown import markdown_table
from analysis.report.results import as_bool, book_settings, load_ground_truth
from analysis.tables import ground_truth_path


#: Plain meaning of each protocol setting (the values themselves come from analysis.protocols).
PROTOCOL_FIELDS: dict[str, str] = {
    "match_cells": "cells imaged in several sessions matched by cell_specimen_id and counted once",
    "match_rule": "how a matched cell's sessions are combined",
    "missing": "missing presentations (error: refuse; nan: averaged over valid trials)",
    "reliability_threshold": "split-half reliability filter on cells (None: off)",
    "scene_latency": "frames skipped after each scene's onset (latency)",
    "scene_window": "frames summed per scene presentation",
    "movie_latency": "frames of latency for the movie",
    "keep_aspect": "stimuli resized keeping their aspect ratio (padded, not squashed)",
    "brain_rdms": "brain RDMs (halves: random half-trial means of the pooled cells; all_trials: one per container)",
    "ceiling": "noise ceiling (row0: tau-a of condition 0's dissimilarities in two trial halves, as the "
               "original's code computed; split_half: the halves' full RDMs; spearman_brown: the latter "
               "corrected to full data)",
    "event_sum": "float type of the scene event sums over the window",
    "nili_bounds": "Nili lower/upper ceiling bounds across animals (experiment containers)",
}


def relative_path(path: Path) -> str:
    try:
        return path.relative_to(config.results_root()).as_posix()
    except ValueError:
        return str(path)


def inference_note(table: pd.DataFrame, tests: pd.DataFrame | None) -> str:
    """A note when a table has no intervals or no tests table ("" when both are there)."""
    has_ci = {"ci_low", "ci_high"} <= set(table.columns) and table[["ci_low", "ci_high"]].notna().any().any()
    missing = []
    if not has_ci:
        missing.append("no bootstrap intervals (the table has no `ci_low`/`ci_high` values)")
    if tests is None:
        missing.append("no statistical tests (no tests table was written)")
    if not missing:
        return ""
    return ('::: {.callout-note title="Inference not available"}\n'
            f"This table carries {' and '.join(missing)}: the figures show the seed spread only, "
            "without intervals or significance marks. Rerun the pipeline with inference to add them.\n:::\n")


def tests_markdown(tests: pd.DataFrame | None, table: pd.DataFrame | None = None) -> str:
    """Paragraph and table of the rat-vs-treeshrew tests of one stimulus and depth."""
    parts = []
    if table is not None:
        note = inference_note(table, tests)
        if note:
            parts.append(note)
    if tests is None or not len(tests):
        return "\n".join(parts) or "*No tests table.*\n"
    t = tests.copy()
    t["significant"] = as_bool(t["significant"])
    layer_t, best_t = t[t["test"] == "layer"], t[t["test"] == "best_layer"]
    sig_layer, sig_best = layer_t[layer_t["significant"]], best_t[best_t["significant"]]
    rat_best = int((sig_best["difference"] > 0).sum())
    parts.append(
        f"Paired bootstrap tests of rat versus treeshrew (over stimuli and animals; "
        f"Benjamini–Hochberg FDR over the {len(t)} tests of this table): the difference is "
        f"significant at {len(sig_layer)} of {len(layer_t)} area × layer tests and at the best "
        f"layers in {len(sig_best)} of {len(best_t)} areas ({rat_best} favouring the rat-trained "
        f"networks, {len(sig_best) - rat_best} the treeshrew-trained ones).")
    rows = []
    for r in best_t.itertuples(index=False):
        rows.append({"area": r.area, "best layer (rat)": f"`{r.layer_a}`",
                     "best layer (treeshrew)": f"`{r.layer_b}`",
                     "rat − treeshrew": f"{r.difference:.3f}",
                     "95% interval": f"[{r.ci_low:.3f}, {r.ci_high:.3f}]",
                     "p (FDR)": f"{r.p_fdr:.3g}", "significant": "yes" if r.significant else "no"})
    if rows:
        parts.append(markdown_table(pd.DataFrame(rows), align="lllrrrl"))
    return "\n\n".join(parts) + "\n"


def protocol_changes_markdown() -> str:
    """Table of the settings that differ between the original and the corrected protocol."""
    from analysis import protocols

    o, c = protocols.ORIGINAL.as_dict(), protocols.CORRECTED.as_dict()
    rows = [{"setting": f"`{k}`", "original": f"`{o[k]}`", "corrected": f"`{c[k]}`",
             "meaning": PROTOCOL_FIELDS.get(k, "")}
            for k in o if k != "name" and o[k] != c[k]]
    same = [k for k in o if k != "name" and o[k] == c[k]]
    text = (f"The corrected protocol changes {len(rows)} of the {len(o) - 1} settings of the "
            "original one (`analysis.protocols`):\n\n" + markdown_table(pd.DataFrame(rows), align="llll"))
    if same:
        text += "\n\nUnchanged: " + ", ".join(f"`{k}` (`{o[k]}`)" for k in same) + "."
    return text + "\n"


def ground_truth_markdown(source: str | None = None) -> str:
    """The ground-truth recovery table and its computed summary, or a note when absent."""
    source = source or book_settings()["source"]
    t = load_ground_truth(source)
    if t is None:
        return ('::: {.callout-note title="Ground truth not available"}\n'
                f"No ground-truth recovery table (`{relative_path(ground_truth_path(source))}`) exists for this "
                "build: the check that the pipeline recovers a planted layer has not been run here.\n:::\n")
    reach = t["ci_high"] >= t["ceiling_low"]
    text = (f"In {int(t['recovered'].sum())} of {len(t)} planted areas the pipeline recovered the "
            f"planted layer as the best one, and in {int(reach.sum())} the upper end of the planted "
            "layer's score interval reached the lower end of the noise-ceiling band.")
    rows = [{"area": r.area, "planted": f"`{r.planted_checkpoint}` `{r.planted_layer}`",
             "best layer found": f"`{r.best_layer}`", "score [95% interval]":
             f"{r.score:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]",
             "ceiling band": f"[{r.ceiling_low:.3f}, {r.ceiling_high:.3f}]",
             "recovered": "yes" if r.recovered else "no"} for r in t.itertuples(index=False)]
    return text + "\n\n" + markdown_table(pd.DataFrame(rows), align="lllrrl") + "\n"
