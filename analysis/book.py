"""The executable book: result chapters from a template, and its rendering.

Build steps
-----------
1. :func:`make_chapters` executes the parameterised template
   ``chapters/results_template.ipynb`` with papermill once per (stimulus, depth)
   of the grid into ``chapters/results/<stimulus>_<depth>.ipynb`` (git-ignored),
   writes ``chapters/results/_book.json`` (source, grid, cre line, seed: what the
   prose chapters read) and the generated Quarto profile ``_quarto-grid.yml``
   holding the book's chapter list. ``_quarto.yml`` activates that profile by
   default (``profile: default: grid``), Quarto merges it over ``_quarto.yml``,
   so the chapters follow the grid and no file is edited by hand.
2. :func:`render` runs ``quarto render`` when Quarto is installed, else
   :func:`render_offline`, which renders the same sources with registry tools:
   jupytext (Rmd reader) turns each ``.qmd`` into a notebook, nbclient executes it
   (cached), pandoc writes one HTML page per chapter and a Typst file that the
   ``typst`` package compiles to PDF. Output: ``_book/``.

Result tables (written by :mod:`analysis.pipeline`)
---------------------------------------------------
``results/<source>/<stimulus>_<depth>.csv`` with columns ``source, stimulus,
depth, cre_line, area, row_type ("model" | "baseline" | "noise_ceiling"),
species, seed, checkpoint, layer, pathway, score, score_sd, n_conditions,
n_neurons, n_experiments`` and a provenance JSON beside it (same stem).
Tables with inference add ``ci_low, ci_high`` (95 % bootstrap interval of the
score; NaN when not run) and ``protocol``; the corrected protocol's table
(``<stimulus>_<depth>_corrected.csv``, :func:`config.results_path` with
``protocol="corrected"``) has a Spearman-Brown ``noise_ceiling`` row and
``nili_lower``/``nili_upper`` rows per area. The tests table
(``..._tests.csv``, ``kind="tests"``) has one row per area x test: ``area, test
("layer" | "best_layer"), layer, layer_a, layer_b, mean_a, mean_b, difference
(rat - treeshrew), ci_low, ci_high, p, p_seeds, p_fdr, significant`` plus
``stimulus, depth, protocol, source``. Loading is tolerant: a table without
interval columns or without a tests table renders without intervals or
significance marks, and the chapter says so.

Ground truth: ``results/<source>/ground_truth.csv`` (:func:`ground_truth_path`)
with columns ``area, planted_checkpoint, planted_layer, best_layer, score,
ci_low, ci_high, ceiling_low, ceiling_high, recovered`` (bool).

Robustness chapter
------------------
``chapters/robustness.qmd`` (:data:`ROBUSTNESS_CHAPTER`) is ALWAYS in the
chapter list, after the result chapters and before the conclusion, so chapter
numbers and cross-references (``@sec-robustness``) do not depend on which
tables exist. It compares the protocols for every grid cell that has a
corrected table; when none (or only some) exist it says so in a note naming the
missing files and the command that writes them. Reads of absent optional files
are recorded too, so the chapter is re-executed as soon as they appear.

Functions called from chapters
------------------------------
:func:`load_results`, :func:`show_provenance`, :func:`show_results_figure`,
:func:`show_results_text`, :func:`methods_counts_table`, :func:`conclusion_text`,
:func:`show_summary_figure`, :func:`show_data_notice`, :func:`book_settings`,
:func:`load_tests`, :func:`show_tests_table`, :func:`show_protocol_changes`,
:func:`show_robustness_figure`, :func:`show_robustness_text`,
:func:`show_robustness_table`, :func:`show_ground_truth`.
"""

from __future__ import annotations

import argparse
import hashlib
import html as html_lib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from analysis import cache, config, fileio

# --------------------------------------------------------------------------------------
# Layout of the book sources (relative to the book root)
# --------------------------------------------------------------------------------------

#: Name of the generated Quarto profile that holds the chapter list.
PROFILE: str = "grid"
PROFILE_FILE: str = f"_quarto-{PROFILE}.yml"
TEMPLATE: str = "chapters/results_template.ipynb"
RESULTS_CHAPTER_DIR: str = "chapters/results"
SETTINGS_FILE: str = f"{RESULTS_CHAPTER_DIR}/_book.json"
#: Chapters before and after the generated result chapters.
FRONT_CHAPTERS: tuple[str, ...] = ("index.qmd", "chapters/background.qmd", "chapters/methods.qmd")
BACK_CHAPTERS: tuple[str, ...] = ("chapters/conclusion.qmd", "references.qmd")
#: The robustness chapter (original vs corrected protocol): after the result chapters.
ROBUSTNESS_CHAPTER: str = "chapters/robustness.qmd"
#: Local copy of plotly.js that HTML pages load (copied from the plotly wheel).
PLOTLY_ASSET: str = "assets/plotly.min.js"
BUILD_DIR: str = "_build"
#: Kernel options: only errors from the kernel's own logger (not its start-up chatter
#: about local TCP transport), so a build log shows what the build did.
KERNEL_ARGUMENTS: list[str] = ["--IPKernelApp.log_level=ERROR"]
OUTPUT_DIR: str = "_book"
#: Environment variables read inside chapter kernels.
ENV_ROOT = "RSA_BOOK_ROOT"
ENV_READS = "RSA_BOOK_READS"

STIMULUS_LABELS: dict[str, str] = {
    "natural_scenes": "Natural Scenes",
    "natural_movie_one": "Natural Movie One",
}
#: Figure labels of the template; each result chapter gets them suffixed with its slug.
TEMPLATE_LABELS: tuple[str, ...] = ("fig-rsa", "fig-rsa-corrected")
SYNTHETIC_NOTICE = "synthetic data: nothing here is a finding about mice"


class BookBuildError(RuntimeError):
    """A chapter could not be built (names the chapter and the cell)."""


def book_root(root: str | os.PathLike | None = None) -> Path:
    """The book's root folder: ``root``, ``$RSA_BOOK_ROOT`` or the project root."""
    if root is not None:
        return Path(root).resolve()
    env = os.environ.get(ENV_ROOT)
    return Path(env).resolve() if env else config.PROJECT_ROOT


def default_grid() -> list[tuple[str, int]]:
    """Every stimulus x depth of the original study."""
    return [(s, d) for s in config.STIMULI for d in config.DEPTHS]


def chapter_slug(stimulus: str, depth: int) -> str:
    """``natural_scenes``, 175 -> ``natural-scenes-175`` (used in labels and ids)."""
    return f"{stimulus.replace('_', '-')}-{int(depth)}"


def chapter_path(stimulus: str, depth: int) -> str:
    """Relative path of a result chapter: ``chapters/results/<stimulus>_<depth>.ipynb``."""
    return f"{RESULTS_CHAPTER_DIR}/{stimulus}_{int(depth)}.ipynb"


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def validate_parameters(stimulus: Any, depth: Any, source: Any, cre_line: Any = config.CRE_LINE,
                        seed: Any = config.SEED) -> dict[str, Any]:
    """Check the template's parameters before anything runs; return them normalised.

    Raises ValueError naming the bad value and listing the valid ones.
    """
    config.validate_choice("stimulus", stimulus, config.STIMULI)
    config.validate_choice("source", source, config.SOURCES)
    config.validate_choice("cre_line", cre_line, config.CRE_LINES)
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or int(depth) <= 0:
        raise ValueError(
            f"depth must be a positive integer (imaging depth in um, e.g. "
            f"{', '.join(map(str, config.DEPTHS))}); got {depth!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer (the study uses {config.SEED}); got {seed!r}")
    return dict(stimulus=stimulus, depth=int(depth), source=source, cre_line=cre_line, seed=int(seed))


def validate_grid(grid: Iterable[Sequence[Any]]) -> list[tuple[str, int]]:
    """Validate a grid of (stimulus, depth) pairs; duplicates are refused."""
    out: list[tuple[str, int]] = []
    for item in grid:
        if isinstance(item, str) or len(item) != 2:
            raise ValueError(f"grid entries must be (stimulus, depth) pairs; got {item!r}")
        stimulus, depth = item
        p = validate_parameters(stimulus, depth, "synthetic")
        pair = (p["stimulus"], p["depth"])
        if pair in out:
            raise ValueError(f"grid lists {pair} twice")
        out.append(pair)
    if not out:
        raise ValueError("the grid is empty; give at least one (stimulus, depth)")
    return out


# --------------------------------------------------------------------------------------
# Reading results (every read is recorded so executed chapters can be cached)
# --------------------------------------------------------------------------------------


def _record_read(path: Path) -> None:
    log = os.environ.get(ENV_READS)
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(str(Path(path).resolve()) + "\n")


def load_results(source: str, stimulus: str, depth: int, cre_line: str | None = None,
                 seed: int | None = None, protocol: str = "original") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read one result table and its provenance.

    Returns ``(table, provenance)``: the tidy table (``seed`` as nullable Int64,
    empty strings for empty text fields, ``ci_low``/``ci_high`` NaN and
    ``protocol`` filled in when an older table lacks them) and the provenance
    dict. If ``cre_line`` or ``seed`` are given they must match what the table
    was computed with.
    """
    path = config.results_path(source, stimulus, depth, protocol=protocol)
    prov_path = path.with_suffix(".json")
    _record_read(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no {protocol}-protocol result table for source={source!r}, stimulus={stimulus!r}, "
            f"depth={depth}: {path} is missing; run the pipeline first "
            f"(python -m analysis run --stimulus {stimulus} --depth {depth} --protocol {protocol})"
        )
    table = pd.read_csv(path, dtype={"species": str, "checkpoint": str, "layer": str,
                                     "pathway": str, "area": str, "row_type": str})
    for col in ("species", "checkpoint", "layer", "pathway"):
        if col in table:
            table[col] = table[col].fillna("")
    if "seed" in table:
        table["seed"] = pd.to_numeric(table["seed"], errors="coerce").astype("Int64")
    for col in ("ci_low", "ci_high"):
        if col not in table:
            table[col] = np.nan
    if "protocol" not in table:
        table["protocol"] = protocol
    provenance: dict[str, Any] = {}
    if prov_path.is_file():
        _record_read(prov_path)
        provenance = json.loads(prov_path.read_text(encoding="utf-8"))
    if cre_line is not None and "cre_line" in table and len(table):
        found = sorted(set(table["cre_line"].astype(str)))
        if found != [cre_line]:
            raise ValueError(f"{path} holds cre line(s) {found}, not the requested {cre_line!r}")
    if seed is not None and provenance.get("seed") not in (None, seed):
        raise ValueError(f"{path} was computed with seed {provenance.get('seed')}, not the requested {seed}")
    return table, provenance


def book_settings(root: str | os.PathLike | None = None) -> dict[str, Any]:
    """What the book is built from: ``{source, grid, cre_line, seed}`` (written by make_chapters)."""
    path = book_root(root) / SETTINGS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run analysis.book.make_chapters() first")
    _record_read(path)
    s = json.loads(path.read_text(encoding="utf-8"))
    s["grid"] = [(st, int(d)) for st, d in s["grid"]]
    return s


def load_all_results(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None
                     ) -> list[tuple[pd.DataFrame, dict[str, Any]]]:
    """Every (table, provenance) of the book's grid (defaults from :func:`book_settings`)."""
    if source is None or grid is None:
        s = book_settings()
        source = s["source"] if source is None else source
        grid = s["grid"] if grid is None else grid
    return [load_results(source, st, d) for st, d in grid]


# --------------------------------------------------------------------------------------
# Text and tables computed for the chapters
# --------------------------------------------------------------------------------------


def markdown_table(df: pd.DataFrame, align: Sequence[str] | None = None) -> str:
    """A pandoc/Quarto pipe table of a data frame (values formatted with ``str``)."""
    cols = [str(c) for c in df.columns]
    align = list(align) if align else ["l"] * len(cols)
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def is_synthetic(source: str | None = None, provenance: dict | None = None) -> bool:
    """True when the data are synthetic (by source name or provenance)."""
    if provenance and provenance.get("source"):
        return provenance["source"] != "allen"
    return source != "allen"


def data_notice(source: str) -> str:
    """A callout saying what the data are; a warning banner for synthetic data."""
    if is_synthetic(source):
        return (
            '::: {.callout-warning title="Synthetic data"}\n'
            f"**{SYNTHETIC_NOTICE[0].upper() + SYNTHETIC_NOTICE[1:]}.** The recordings in this build "
            "come from the project's embedded synthetic Brain Observatory, written in the Allen "
            "layout to test the pipeline end to end. Every number and figure below exercises the "
            "analysis; none of them says anything about mouse visual cortex.\n:::\n"
        )
    return (
        '::: {.callout-note title="Data"}\n'
        "The recordings are the Allen Brain Observatory Visual Coding two-photon survey "
        "[@devries2020].\n:::\n"
    )


def provenance_markdown(table: pd.DataFrame, provenance: dict[str, Any], source: str | None = None) -> str:
    """Provenance of one result table as Markdown: banner, data, checkpoints, code, packages."""
    src = provenance.get("source") or source or (str(table["source"].iloc[0]) if len(table) else "")
    parts = [data_notice(src)]
    keys = ["stimulus", "depth", "cre_line", "seed", "protocol", "movie_bin"]
    facts = ", ".join(f"{k.replace('_', ' ')}: `{provenance[k]}`" for k in keys if k in provenance)
    parts.append(f"**Data source:** `{src}`" + (f"; {facts}." if facts else "."))
    areas = provenance.get("areas", {})
    if areas:
        rows = [
            dict(area=a, containers=areas[a].get("n_containers", ""),
                 experiments=areas[a].get("n_experiments", ""), neurons=areas[a].get("n_neurons", ""))
            for a in config.AREAS if a in areas
        ]
        parts.append(markdown_table(pd.DataFrame(rows), align="lrrr"))
    ckpts = provenance.get("checkpoints", {})
    if ckpts:
        listed = "; ".join(f"`{name}` `{str(sha)[:12]}`" for name, sha in sorted(ckpts.items()))
        parts.append(f"**Checkpoints (SHA-256, first 12 hex digits):** {listed}.")
    code = provenance.get("git_commit")
    py = provenance.get("python")
    if code or py:
        parts.append(f"**Code:** git commit `{code or 'unknown'}`; Python `{py or 'unknown'}`.")
    pk = provenance.get("packages", {})
    if pk:
        parts.append("**Packages:** " + ", ".join(f"{k} `{v}`" for k, v in sorted(pk.items())) + ".")
    return "\n\n".join(parts) + "\n"


def results_text(table: pd.DataFrame, provenance: dict[str, Any] | None = None,
                 fig_label: str = "fig-rsa", corrected_label: str = "fig-rsa-corrected") -> str:
    """A short paragraph computed from one table: which species scores higher where."""
    from analysis import figures

    provenance = provenance or {}
    summary = figures.summary_data(table)
    if not len(summary):
        return "The table holds no model scores.\n"
    comp = figures.species_comparison(summary)
    n = len(comp)
    rat = comp.loc[comp["higher"] == "rat", "area"].tolist()
    ts = comp.loc[comp["higher"] == "treeshrew", "area"].tolist()
    stim = str(summary["stimulus"].iloc[0])
    depth = int(summary["depth"].iloc[0])

    def listing(areas: list[str]) -> str:
        return ", ".join(areas) if areas else "none"

    best = summary.pivot_table(index="area", columns="species", values="best_layer", aggfunc="first")
    frac = summary["corrected_value"]
    text = (
        f"For {STIMULUS_LABELS.get(stim, stim)} at {depth} µm, the best layer of the rat-trained "
        f"networks (median over seeds) scores higher than the best layer of the treeshrew-trained "
        f"networks in {len(rat)} of {n} areas ({listing(rat)}), and lower in {len(ts)} "
        f"({listing(ts)}) (@{fig_label}). Best-layer scores reach "
        f"{frac.min():.0%} to {frac.max():.0%} of the areas' noise ceilings (@{corrected_label}). "
        f"Best layers: " + "; ".join(
            f"{a}: rat `{best.loc[a].get('rat', '-')}`, treeshrew `{best.loc[a].get('treeshrew', '-')}`"
            for a in config.AREAS if a in best.index) + ". "
        "Differences smaller than the error bars (SD over five seeds) should not be read as effects."
    )
    if is_synthetic(provenance=provenance, source=str(table["source"].iloc[0]) if "source" in table else None):
        text += f" These are **{SYNTHETIC_NOTICE}**."
    return text + "\n"


def methods_counts_table(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None) -> str:
    """Markdown table: containers / experiments / neurons per area, stimulus and depth."""
    loaded = load_all_results(source, grid)
    rows = []
    for table, prov in loaded:
        stim, depth = prov.get("stimulus"), prov.get("depth")
        if stim is None and len(table):
            stim, depth = table["stimulus"].iloc[0], int(table["depth"].iloc[0])
        areas = prov.get("areas", {})
        for area in config.AREAS:
            a = areas.get(area)
            if a is None:
                t = table[table["area"] == area]
                if not len(t):
                    continue
                a = dict(n_containers="", n_experiments=int(t["n_experiments"].iloc[0]),
                         n_neurons=int(t["n_neurons"].iloc[0]))
            rows.append({"stimulus": STIMULUS_LABELS.get(stim, stim), "depth (µm)": depth,
                         "area": area, "containers": a.get("n_containers", ""),
                         "experiments": a.get("n_experiments", ""), "neurons": a.get("n_neurons", "")})
    if not rows:
        return "*No result tables yet.*\n"
    return markdown_table(pd.DataFrame(rows), align="lrlrrr") + "\n"


def conclusion_text(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None) -> str:
    """The conclusion, computed from all result tables of the book."""
    from analysis import figures

    if source is None:
        source = book_settings()["source"]
    loaded = load_all_results(source, grid)
    tables = [t for t, _ in loaded]
    summary = figures.summary_data(tables)
    if not len(summary):
        return "*No result tables yet: nothing to conclude.*\n"
    comp = figures.species_comparison(summary)
    n = len(comp)
    n_rat = int((comp["higher"] == "rat").sum())
    n_ts = int((comp["higher"] == "treeshrew").sum())
    per = []
    for (stim, depth), c in comp.groupby(["stimulus", "depth"], sort=False):
        per.append(f"{STIMULUS_LABELS.get(stim, stim)} at {depth} µm: rat higher in "
                   f"{int((c['higher'] == 'rat').sum())} of {len(c)} areas")
    # how often the species difference exceeds the seed SD of both species
    wide_sd = summary.pivot_table(index=["stimulus", "depth", "area"], columns="species",
                                  values="sd", aggfunc="first").reset_index()
    merged = comp.merge(wide_sd, on=["stimulus", "depth", "area"], suffixes=("", "_sd"))
    clear = int((merged["difference"].abs() > merged[["rat_sd", "treeshrew_sd"]].max(axis=1)).sum())
    frac = summary["corrected_value"]
    leader = ("the rat-trained networks" if n_rat > n_ts else
              "the treeshrew-trained networks" if n_ts > n_rat else "neither species")
    paras = [
        f"Across the {len(tables)} stimulus × depth combinations of this build and the five visual "
        f"areas of each, {leader} came out ahead more often: the best layer of the rat-trained "
        f"networks scored higher in {n_rat} of {n} area comparisons and the treeshrew-trained ones "
        f"in {n_ts} ({'; '.join(per)}). In {clear} of the {n} comparisons the difference between "
        f"the species exceeded the standard deviation over seeds of both. Best-layer scores ranged "
        f"from {frac.min():.0%} to {frac.max():.0%} of the areas' split-half noise ceilings.",
    ]
    if is_synthetic(source):
        paras.append(
            "**These results come from synthetic data: nothing here is a finding about mice.** "
            "The synthetic recordings were generated to exercise the pipeline; whichever species "
            "scores higher on them reflects how they were generated and chance, not mouse visual "
            "cortex. The original study's conclusion (mouse visual cortex is more similar to the "
            "rat-trained networks) can only be checked by rebuilding this book from the Allen "
            "Brain Observatory (`source = \"allen\"`)."
        )
    else:
        agree = "agrees with" if n_rat > n_ts else "does not reproduce"
        paras.append(
            f"On the Allen Brain Observatory recordings this {agree} the original study's "
            "conclusion that mouse visual cortex is more similar to the rat-trained networks than "
            "to the treeshrew-trained ones. The comparison rests on five seeds per species and "
            "one cre line; differences within the seed spread should not be over-interpreted."
        )
    return "\n\n".join(paras) + "\n"


# --------------------------------------------------------------------------------------
# Display helpers (one output per call)
# --------------------------------------------------------------------------------------


def show_markdown(text: str) -> None:
    """Display Markdown as a ``text/markdown`` output (rendered as part of the page)."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_data_notice(source: str | None = None) -> None:
    """Display the data notice (synthetic-data warning banner) of the book's source."""
    show_markdown(data_notice(source or book_settings()["source"]))


def show_provenance(table: pd.DataFrame, provenance: dict[str, Any], source: str | None = None) -> None:
    show_markdown(provenance_markdown(table, provenance, source))


def show_results_text(table: pd.DataFrame, provenance: dict[str, Any] | None = None) -> None:
    show_markdown(results_text(table, provenance))


def show_methods_counts() -> None:
    show_markdown(methods_counts_table())


def show_conclusion() -> None:
    show_markdown(conclusion_text())


def show_results_figure(table: pd.DataFrame, provenance: dict[str, Any] | None = None,
                        corrected: bool = False, tests: pd.DataFrame | None = None) -> None:
    """Display the figure of one table (both renderings in one output bundle).

    With ``tests`` (the tests table of the same stimulus, depth and protocol)
    significant rat-vs-treeshrew differences are marked.
    """
    from analysis import figures

    provenance = provenance or {}
    fig_df = figures.figure_data(table, corrected=corrected, tests=tests)
    stim = provenance.get("stimulus") or str(table["stimulus"].iloc[0])
    depth = provenance.get("depth") or int(table["depth"].iloc[0])
    cre = provenance.get("cre_line") or str(table["cre_line"].iloc[0])
    sub = figures.subtitle(cre, depth, stim) + (" (noise corrected)" if corrected else "")
    figures.show_figure(figures.plot_static(fig_df, figures.TITLE, sub),
                        figures.plot_interactive(fig_df, figures.TITLE, sub))


def show_summary_figure(corrected: bool = False) -> None:
    """Display the summary figure (best layer per species, all stimuli and depths)."""
    from analysis import figures

    s = book_settings()
    summary = figures.summary_data([t for t, _ in load_all_results(s["source"], s["grid"])])
    title = "Best-layer RDM similarity, rat- vs treeshrew-trained networks"
    sub = f"cre_line: {s['cre_line']}, source: {s['source']}" + (" (noise corrected)" if corrected else "")
    figures.show_figure(figures.plot_summary_static(summary, title, sub, corrected=corrected),
                        figures.plot_summary_interactive(summary, title, sub, corrected=corrected))


# --------------------------------------------------------------------------------------
# Inference, the corrected protocol and ground truth (optional tables)
# --------------------------------------------------------------------------------------

#: Columns of the ground-truth recovery table (written beside the result tables).
GROUND_TRUTH_COLUMNS: tuple[str, ...] = (
    "area", "planted_checkpoint", "planted_layer", "best_layer", "score", "ci_low", "ci_high",
    "ceiling_low", "ceiling_high", "recovered",
)
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
    "brain_rdms": "brain RDMs (halves: 100 random half-trial means; all_trials: one from all trials)",
    "ceiling": "noise ceiling (split_half: raw half-vs-half; spearman_brown: corrected to full data)",
    "nili_bounds": "Nili lower/upper ceiling bounds across animals (experiment containers)",
}


def _as_bool(series: pd.Series) -> pd.Series:
    if series.dtype == bool:
        return series
    return series.astype(str).str.strip().str.lower().isin(("true", "1", "yes"))


def load_tests(source: str, stimulus: str, depth: int, protocol: str = "original") -> pd.DataFrame | None:
    """The tests table of one stimulus, depth and protocol, or None when it was not written.

    ``significant`` is returned as bool; ``layer`` empty strings for best-layer rows.
    """
    path = config.results_path(source, stimulus, depth, protocol=protocol, kind="tests")
    _record_read(path)
    if not path.is_file():
        return None
    t = pd.read_csv(path, dtype={"area": str, "test": str, "layer": str, "layer_a": str, "layer_b": str})
    for col in ("layer", "layer_a", "layer_b"):
        if col in t:
            t[col] = t[col].fillna("")
    if "significant" in t:
        t["significant"] = _as_bool(t["significant"])
    for col, value in (("stimulus", stimulus), ("depth", int(depth)), ("protocol", protocol)):
        if col not in t:
            t[col] = value
    return t


def load_protocol(source: str, grid: Sequence[tuple[str, int]], protocol: str) -> dict[str, Any]:
    """Every table of one protocol over a grid: ``{tables, tests, missing, missing_tests}``.

    ``tables``/``tests``: lists over the grid cells that have a score table
    (``tests`` entries None where no tests table exists); ``missing`` and
    ``missing_tests``: the absent paths.
    """
    out: dict[str, Any] = {"tables": [], "tests": [], "missing": [], "missing_tests": [], "cells": []}
    for stimulus, depth in grid:
        path = config.results_path(source, stimulus, depth, protocol=protocol)
        _record_read(path)
        if not path.is_file():
            out["missing"].append(path)
            continue
        table, _ = load_results(source, stimulus, depth, protocol=protocol)
        tests = load_tests(source, stimulus, depth, protocol)
        if tests is None:
            out["missing_tests"].append(config.results_path(source, stimulus, depth, protocol=protocol,
                                                            kind="tests"))
        out["tables"].append(table)
        out["tests"].append(tests)
        out["cells"].append((stimulus, int(depth)))
    return out


def ground_truth_path(source: str) -> Path:
    """``results/<source>/ground_truth.csv`` (the recovery table of the ground-truth check)."""
    config.validate_choice("source", source, config.SOURCES)
    return config.results_root() / source / "ground_truth.csv"


def load_ground_truth(source: str) -> pd.DataFrame | None:
    """The ground-truth recovery table, or None when it was not written."""
    path = ground_truth_path(source)
    _record_read(path)
    if not path.is_file():
        return None
    t = pd.read_csv(path, dtype={"area": str, "planted_checkpoint": str, "planted_layer": str,
                                 "best_layer": str})
    missing = [c for c in GROUND_TRUTH_COLUMNS if c not in t]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; expected {', '.join(GROUND_TRUTH_COLUMNS)}")
    t["recovered"] = _as_bool(t["recovered"])
    return t


def _rel(path: Path) -> str:
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
    t["significant"] = _as_bool(t["significant"])
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


def robustness_frame(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`figures.robustness_data` of the book's grid and what is missing.

    Returns ``(frame, info)``; ``info`` holds the :func:`load_protocol` results
    (``original``, ``corrected``) for notes about absent tables.
    """
    from analysis import figures

    if source is None or grid is None:
        s = book_settings()
        source = s["source"] if source is None else source
        grid = s["grid"] if grid is None else grid
    orig = load_protocol(source, grid, "original")
    corr = load_protocol(source, grid, "corrected")
    cells = set(corr["cells"])
    keep = [i for i, cell in enumerate(orig["cells"]) if cell in cells]
    frame = figures.robustness_data([orig["tables"][i] for i in keep], corr["tables"],
                                    [orig["tests"][i] for i in keep], corr["tests"])
    return frame, {"original": orig, "corrected": corr, "source": source, "grid": list(grid)}


def _missing_note(info: dict[str, Any]) -> str:
    corr = info["corrected"]
    notes = []
    if corr["missing"]:
        listed = ", ".join(f"`{_rel(p)}`" for p in corr["missing"])
        what = "any stimulus × depth of this build" if not corr["cells"] else \
            f"{len(corr['missing'])} of {len(info['grid'])} stimulus × depth cells"
        notes.append(f"No corrected-protocol result table exists for {what} ({listed}); "
                     "run `python -m analysis run --stimulus S --depth D --protocol corrected` to "
                     "write them, then rebuild the book.")
    tests_missing = info["original"]["missing_tests"] + corr["missing_tests"]
    if tests_missing:
        notes.append("No tests table for " + ", ".join(f"`{_rel(p)}`" for p in tests_missing)
                     + ": significance and intervals of the species difference are not shown there.")
    if not notes:
        return ""
    return '::: {.callout-note title="Tables not available"}\n' + "\n\n".join(notes) + "\n:::\n"


def robustness_markdown(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None) -> str:
    """The computed statements of which conclusions hold under both protocols (Markdown)."""
    from analysis import figures

    frame, info = robustness_frame(source, grid)
    parts = [_missing_note(info)] if _missing_note(info) else []
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


def ground_truth_markdown(source: str | None = None) -> str:
    """The ground-truth recovery table and its computed summary, or a note when absent."""
    source = source or book_settings()["source"]
    t = load_ground_truth(source)
    if t is None:
        return ('::: {.callout-note title="Ground truth not available"}\n'
                f"No ground-truth recovery table (`{_rel(ground_truth_path(source))}`) exists for this "
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


def show_tests_table(tests: pd.DataFrame | None, table: pd.DataFrame | None = None) -> None:
    """Display the tests of one stimulus and depth (or a note when there are none)."""
    show_markdown(tests_markdown(tests, table))


def show_protocol_changes() -> None:
    show_markdown(protocol_changes_markdown())


def show_robustness_text() -> None:
    show_markdown(robustness_markdown())


def show_robustness_table() -> None:
    show_markdown(robustness_table_markdown())


def show_ground_truth() -> None:
    show_markdown(ground_truth_markdown())


def show_robustness_figure() -> None:
    """Display the side-by-side figure of the two protocols (or a note when there is nothing to show)."""
    from analysis import figures

    frame, info = robustness_frame()
    if not len(frame):
        show_markdown(_missing_note(info) or "*Nothing to compare.*\n")
        return
    s = book_settings()
    title = "Rat − treeshrew at the best layers, original vs corrected protocol"
    sub = f"cre_line: {s['cre_line']}, source: {s['source']}"
    figures.show_figure(figures.plot_robustness_static(frame, title, sub),
                        figures.plot_robustness_interactive(frame, title, sub))


# --------------------------------------------------------------------------------------
# Hashing and caching
# --------------------------------------------------------------------------------------


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _file_sha(path: Path) -> str:
    return cache.hash_file(path)


_ENV_PACKAGES = ("pandas", "numpy", "matplotlib", "plotly", "seaborn", "nbclient", "papermill",
                 "ipykernel", "jupytext")


def environment_key() -> str:
    """Hash of what executed chapters depend on besides their source and data.

    Package versions, Python, and the source of the modules chapters call
    (``analysis/book.py``, ``figures.py``, ``config.py``).
    """
    parts = [sys.version]
    for name in _ENV_PACKAGES:
        try:
            parts.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name}==none")
    here = Path(__file__).resolve().parent
    for mod in ("book.py", "figures.py", "config.py", "protocols.py", "__init__.py"):
        p = here / mod
        parts.append(_file_sha(p) if p.is_file() else "none")
    return _sha("\n".join(parts))


def _reads_hashes(paths: Iterable[str]) -> dict[str, str]:
    """Hash of every file read; ``""`` for a file looked for but absent (optional tables)."""
    return {p: (_file_sha(Path(p)) if Path(p).is_file() else "") for p in sorted(set(paths))}


def _reads_unchanged(reads: dict[str, str]) -> bool:
    for p, sha in reads.items():
        exists = Path(p).is_file()
        if sha == "":
            if exists:
                return False
        elif not exists or _file_sha(Path(p)) != sha:
            return False
    return True


@contextmanager
def _kernel_env(root: Path) -> Iterator[Path]:
    """Environment for chapter kernels; yields the file in which reads are recorded."""
    fd, log = tempfile.mkstemp(prefix="rsa-book-reads-", suffix=".txt")
    os.close(fd)
    saved = {k: os.environ.get(k) for k in (ENV_ROOT, ENV_READS, "PYTHONPATH", "MPLBACKEND")}
    try:
        os.environ[ENV_ROOT] = str(root)
        os.environ[ENV_READS] = log
        os.environ["MPLBACKEND"] = "Agg"
        pp = [str(config.PROJECT_ROOT)] + ([saved["PYTHONPATH"]] if saved["PYTHONPATH"] else [])
        os.environ["PYTHONPATH"] = os.pathsep.join(pp)
        yield Path(log)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        Path(log).unlink(missing_ok=True)


def _write_atomic(path: Path, data: str) -> None:
    fileio.write_text_atomic(path, data)


# --------------------------------------------------------------------------------------
# Result chapters (papermill) and the generated chapter list
# --------------------------------------------------------------------------------------


def _rewrite_labels(text: str, slug: str) -> str:
    """Give the template's figure labels (and references to them) the chapter's slug."""
    return re.sub(r"(?<![\w-])(fig-rsa(?:-corrected)?)(?![\w-])", rf"\1-{slug}", text)


def _finish_result_chapter(nb, stimulus: str, depth: int, root: Path):
    """Title cell, HTML front matter and per-chapter labels of an executed result chapter."""
    import nbformat

    slug = chapter_slug(stimulus, depth)
    for cell in nb.cells:
        cell.source = _rewrite_labels(cell.source, slug)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/markdown" in data:
                md = data["text/markdown"]
                md = "".join(md) if isinstance(md, list) else md
                data["text/markdown"] = _rewrite_labels(md, slug)
    rel = os.path.relpath(root / PLOTLY_ASSET, root / RESULTS_CHAPTER_DIR)
    front = nbformat.v4.new_raw_cell(
        "---\n"
        "format:\n  html:\n    include-in-header:\n"
        f"      text: '<script src=\"{rel}\"></script>'\n"
        "---"
    )
    title = nbformat.v4.new_markdown_cell(
        f"# {STIMULUS_LABELS.get(stimulus, stimulus)}, {depth} µm {{#sec-results-{slug}}}"
    )
    nb.cells = [front, title] + list(nb.cells)
    return nb


def copy_plotly_asset(root: Path) -> Path:
    """Copy ``plotly.min.js`` from the installed plotly wheel to ``assets/`` (git-ignored)."""
    import plotly

    src = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    dst = root / PLOTLY_ASSET
    if not dst.is_file() or _file_sha(dst) != _file_sha(src):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return dst


def chapter_list(grid: Sequence[tuple[str, int]]) -> list[str]:
    """The book's chapters for a grid: front matter, one result chapter per cell, the
    robustness chapter (always; it notes missing corrected tables itself), back matter."""
    return list(FRONT_CHAPTERS) + [chapter_path(s, d) for s, d in grid] + [ROBUSTNESS_CHAPTER] \
        + list(BACK_CHAPTERS)


def write_chapter_list(grid: Sequence[tuple[str, int]], root: Path) -> Path:
    """Write the generated Quarto profile ``_quarto-grid.yml`` (book chapters and render list)."""
    import yaml

    chapters = chapter_list(grid)
    doc = {"project": {"render": list(chapters)}, "book": {"chapters": list(chapters)}}
    text = ("# GENERATED by analysis.book.make_chapters -- do not edit.\n"
            "# Quarto merges this profile over _quarto.yml (profile: default: grid).\n"
            + yaml.safe_dump(doc, sort_keys=False))
    path = root / PROFILE_FILE
    _write_atomic(path, text)
    return path


def make_chapters(grid: Sequence[tuple[str, int]] | None = None, source: str = "synthetic",
                  cre_line: str = config.CRE_LINE, seed: int = config.SEED,
                  root: str | os.PathLike | None = None, force: bool = False,
                  log=print) -> list[Path]:
    """Execute the results template once per (stimulus, depth); write the chapter list.

    Each chapter is re-executed only when the template, its parameters, the
    environment (:func:`environment_key`) or a file it read (result table,
    provenance) changed. Returns the chapter notebooks' paths.
    """
    import nbformat
    import papermill as pm

    root = book_root(root)
    grid = validate_grid(grid if grid is not None else default_grid())
    validate_parameters(grid[0][0], grid[0][1], source, cre_line, seed)
    template = root / TEMPLATE
    if not template.is_file():
        raise FileNotFoundError(f"template notebook {template} is missing")
    # validate every grid cell before running anything
    for stimulus, depth in grid:
        validate_parameters(stimulus, depth, source, cre_line, seed)
        if not config.results_path(source, stimulus, depth).is_file():
            raise FileNotFoundError(
                f"no result table {config.results_path(source, stimulus, depth)} for "
                f"{stimulus} at {depth} um; run the pipeline for it first"
            )
    out_dir = root / RESULTS_CHAPTER_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = dict(source=source, grid=[list(g) for g in grid], cre_line=cre_line, seed=int(seed))
    settings_path = root / SETTINGS_FILE
    if not settings_path.is_file() or json.loads(settings_path.read_text()) != settings:
        _write_atomic(settings_path, json.dumps(settings, indent=1) + "\n")
    copy_plotly_asset(root)
    env_key = environment_key()
    template_sha = _file_sha(template)
    paths = []
    for stimulus, depth in grid:
        params = dict(stimulus=stimulus, depth=int(depth), source=source, cre_line=cre_line, seed=int(seed))
        key = _sha(json.dumps([template_sha, params, env_key], sort_keys=True))
        out = root / chapter_path(stimulus, depth)
        paths.append(out)
        if out.is_file() and not force:
            try:
                meta = nbformat.read(out, as_version=4).metadata.get("rsa_book", {})
            except Exception:  # unreadable: rebuild
                meta = {}
            if meta.get("key") == key and _reads_unchanged(meta.get("reads", {})):
                log(f"chapter {out.relative_to(root)}: up to date")
                continue
        t0 = time.time()
        tmp = out.with_name(f".{out.name}.running.ipynb")
        with _kernel_env(root) as reads_log:
            try:
                pm.execute_notebook(str(template), str(tmp), parameters=params, kernel_name="python3",
                                    cwd=str(out_dir), progress_bar=False, log_output=False,
                                    extra_arguments=KERNEL_ARGUMENTS)
            except pm.PapermillExecutionError as err:
                tmp.unlink(missing_ok=True)
                raise BookBuildError(
                    f"chapter {out.relative_to(root)} (template {TEMPLATE}, {stimulus}, depth {depth}): "
                    f"cell {err.cell_index} (execution count {err.exec_count}) failed: "
                    f"{err.ename}: {err.evalue}\n--- cell source ---\n{err.source}"
                ) from None
            reads = _reads_hashes(reads_log.read_text().split())
        nb = nbformat.read(tmp, as_version=4)
        tmp.unlink(missing_ok=True)
        nb = _finish_result_chapter(nb, stimulus, depth, root)
        nb.metadata["rsa_book"] = {"key": key, "reads": reads, "parameters": params}
        _write_atomic(out, nbformat.writes(nb))
        log(f"chapter {out.relative_to(root)}: executed in {time.time() - t0:.1f} s")
    # remove result chapters no longer in the grid
    keep = {p.name for p in paths}
    for old in out_dir.glob("*.ipynb"):
        if old.name not in keep:
            old.unlink()
    write_chapter_list(grid, root)
    return paths


# --------------------------------------------------------------------------------------
# Book configuration (the same merge Quarto does for the active profile)
# --------------------------------------------------------------------------------------


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return over


def load_book_config(root: str | os.PathLike | None = None) -> dict[str, Any]:
    """``_quarto.yml`` with the active profile's file merged over it."""
    import yaml

    root = book_root(root)
    cfg = yaml.safe_load((root / "_quarto.yml").read_text(encoding="utf-8")) or {}
    profiles = os.environ.get("QUARTO_PROFILE") or (cfg.get("profile", {}) or {}).get("default", "")
    if isinstance(profiles, str):
        profiles = [p.strip() for p in profiles.split(",") if p.strip()]
    for prof in profiles:
        p = root / f"_quarto-{prof}.yml"
        if p.is_file():
            cfg = _merge(cfg, yaml.safe_load(p.read_text(encoding="utf-8")) or {})
    return cfg


def book_chapters(cfg: dict[str, Any]) -> list[str]:
    """Flat list of chapter files (parts flattened)."""
    out: list[str] = []

    def walk(items):
        for it in items or []:
            if isinstance(it, str):
                out.append(it)
            elif isinstance(it, dict):
                if "href" in it:
                    out.append(it["href"])
                if "file" in it:
                    out.append(it["file"])
                walk(it.get("chapters"))
    walk((cfg.get("book") or {}).get("chapters"))
    if not out:
        raise BookBuildError(f"the book lists no chapters: run make_chapters() to write {PROFILE_FILE}")
    return out


# --------------------------------------------------------------------------------------
# Executing prose chapters (cached)
# --------------------------------------------------------------------------------------

_OPTION_RE = re.compile(r"^#\|\s?(.*)$")


def cell_options(source: str) -> tuple[dict[str, Any], str]:
    """Split Quarto ``#|`` option lines off a code cell: returns ``(options, code)``."""
    import yaml

    lines = source.splitlines()
    opts, i = [], 0
    while i < len(lines) and _OPTION_RE.match(lines[i]):
        opts.append(_OPTION_RE.match(lines[i]).group(1))
        i += 1
    options = yaml.safe_load("\n".join(opts)) if opts else {}
    return (options or {}), "\n".join(lines[i:])


def read_chapter_notebook(path: Path):
    """A chapter as a notebook: ``.ipynb`` read as is, ``.qmd`` through jupytext's Rmd reader."""
    import jupytext
    import nbformat

    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    if path.suffix in (".qmd", ".md", ".Rmd"):
        return jupytext.reads(path.read_text(encoding="utf-8"), fmt="Rmd")
    raise BookBuildError(f"chapter {path}: unsupported file type {path.suffix!r} (.qmd or .ipynb)")


def _cell_name(cell, index: int) -> str:
    opts, code = cell_options(cell.source)
    label = opts.get("label")
    first = next((ln for ln in code.splitlines() if ln.strip()), "")
    return f"cell {index}" + (f" (label {label})" if label else "") + (f": {first.strip()[:80]}" if first else "")


def execute_chapter(path: Path, root: Path, cache_dir: Path, log=print):
    """The executed notebook of a ``.qmd`` chapter, from cache when nothing it depends on changed.

    The cache key is the chapter source hash plus :func:`environment_key`; the
    entry also records the hash of every file the chapter read (result tables,
    provenance, book settings) and is stale when any changed.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    rel = path.relative_to(root).as_posix()
    nb = read_chapter_notebook(path)
    if path.suffix == ".ipynb" or not any(c.cell_type == "code" for c in nb.cells):
        return nb
    key = _sha(path.read_bytes() + environment_key().encode())
    entry = cache_dir / (rel.replace("/", "__") + ".ipynb")
    if entry.is_file():
        try:
            cached = nbformat.read(entry, as_version=4)
            meta = cached.metadata.get("rsa_book", {})
            if meta.get("key") == key and _reads_unchanged(meta.get("reads", {})):
                log(f"chapter {rel}: cached")
                return cached
        except Exception:
            pass
    t0 = time.time()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with _kernel_env(root) as reads_log:
        client = NotebookClient(nb, timeout=1200, kernel_name="python3", extra_arguments=KERNEL_ARGUMENTS,
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        except CellExecutionError as err:
            idx = next((i for i, c in enumerate(nb.cells) if any(
                o.get("output_type") == "error" for o in c.get("outputs", []))), None)
            where = _cell_name(nb.cells[idx], idx) if idx is not None else "a cell"
            ename = getattr(err, "ename", "error")
            evalue = getattr(err, "evalue", str(err))
            raise BookBuildError(f"chapter {rel}: {where} failed: {ename}: {evalue}") from None
        reads = _reads_hashes(reads_log.read_text().split())
    nb.metadata["rsa_book"] = {"key": key, "reads": reads}
    _write_atomic(entry, nbformat.writes(nb))
    log(f"chapter {rel}: executed in {time.time() - t0:.1f} s")
    return nb


# --------------------------------------------------------------------------------------
# Notebook -> pandoc Markdown (per target: "html" or "typst")
# --------------------------------------------------------------------------------------


def _joined(v: Any) -> str:
    return "".join(v) if isinstance(v, list) else str(v)


def _fence(text: str, info: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


_PRIORITY = {
    "html": ("text/markdown", "text/html", "image/svg+xml", "image/png", "image/jpeg", "text/plain"),
    "typst": ("text/markdown", "image/png", "image/jpeg", "text/latex", "text/plain"),
}


class _Converter:
    """Turns executed notebooks into pandoc Markdown, honouring Quarto cell options."""

    def __init__(self, target: str, defaults: dict[str, Any], media_dir: Path, media_ref: str):
        self.target = target
        self.defaults = defaults
        self.media_dir = media_dir
        self.media_ref = media_ref

    def image(self, data: str, name: str, ext: str) -> str:
        import base64

        self.media_dir.mkdir(parents=True, exist_ok=True)
        raw = base64.b64decode(data) if ext != "svg" else data.encode()
        fname = f"{name}.{ext}"
        (self.media_dir / fname).write_bytes(raw)
        width = "{width=100%}" if self.target == "typst" else ""
        return f"![]({self.media_ref}/{fname}){width}"

    def output(self, out: dict, asis: bool, name: str) -> str | None:
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") == "stderr" and not self.defaults.get("warning", True):
                return None
            text = _joined(out.get("text", ""))
            return text if asis else _fence(text)
        if kind == "error":
            return _fence("\n".join(out.get("traceback", [])))
        if kind not in ("display_data", "execute_result"):
            return None
        data = out.get("data", {})
        for mime in _PRIORITY[self.target]:
            if mime not in data:
                continue
            v = _joined(data[mime])
            if mime == "text/markdown":
                return v
            if mime == "text/html":
                return _fence(v, "{=html}")
            if mime.startswith("image/"):
                return self.image(v, name, {"image/png": "png", "image/jpeg": "jpg",
                                            "image/svg+xml": "svg"}[mime])
            if mime == "text/latex":
                continue
            return v if asis else _fence(v)
        return None

    def notebook(self, nb, stem: str) -> str:
        blocks: list[str] = []
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                blocks.append(cell.source)
                continue
            if cell.cell_type != "code":
                continue  # raw cells (front matter) are Quarto's, not content
            opts, code = cell_options(cell.source)
            merged = {**self.defaults, **opts}
            if merged.get("include") is False:
                continue
            if "injected-parameters" in cell.metadata.get("tags", []) or \
                    "parameters" in cell.metadata.get("tags", []):
                if not opts.get("echo", False):
                    continue
            parts = []
            if merged.get("echo", True) and code.strip():
                parts.append(_fence(code, "python"))
            if merged.get("output", True) is not False:
                asis = merged.get("output") == "asis"
                for k, out in enumerate(cell.get("outputs", [])):
                    md = self.output(out, asis, f"{stem}-cell{i}-{k}")
                    if md:
                        parts.append(md)
            label = str(opts.get("label", ""))
            if label.startswith(("fig-", "tbl-")):
                cap = str(opts.get(label[:3] + "-cap", ""))
                body = "\n\n".join(parts[1:] if merged.get("echo", True) and code.strip() else parts)
                code_part = parts[0] + "\n\n" if merged.get("echo", True) and code.strip() else ""
                parts = [f"{code_part}::::: {{#{label}}}\n{body}\n\n::: {{.rsa-caption}}\n{cap}\n:::\n:::::"]
            if parts:
                blocks.append("\n\n".join(parts))
        return "\n\n".join(blocks) + "\n"


# --------------------------------------------------------------------------------------
# Cross references: numbering done here, resolved by a Lua filter
# --------------------------------------------------------------------------------------

_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*(?:\{([^}]*)\})?\s*$")
_FIG_DIV_RE = re.compile(r"^:{3,}\s*\{#((?:fig|tbl)-[\w-]+)")
_XREF_USE_RE = re.compile(r"(?<![\w@])@((?:fig|sec|tbl)-[\w-]*\w)")


def _scan(markdown: str) -> Iterator[tuple[str, str]]:
    """Yield ("heading", line) and ("fig", id) events outside code and raw blocks."""
    fence = None
    for line in markdown.splitlines():
        m = re.match(r"^(`{3,}|~{3,})", line)
        if m:
            if fence is None:
                fence = m.group(1)
                continue
            if line.strip() == fence or line.startswith(fence) and not line[len(fence):].strip():
                fence = None
                continue
        if fence:
            continue
        if _HEADING_RE.match(line):
            yield "heading", line
        f = _FIG_DIV_RE.match(line)
        if f:
            yield "fig", f.group(1)


def _plain(text: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*_`]", "", text).strip()


def number_chapters(chapter_md: list[tuple[str, str]]) -> tuple[list[dict], dict[str, dict]]:
    """Number chapters, sections and figures the way the renderers will.

    ``chapter_md``: ``[(page, markdown)]``. Returns per-chapter info (title,
    number) and the cross-reference map ``{id: {"text", "page", "kind"}}``.
    """
    chapters, xref = [], {}
    chap_no = 0
    for page, md in chapter_md:
        info = {"page": page, "title": page, "number": None}
        counters = [0] * 6
        fig_no = {"fig": 0, "tbl": 0}
        first = True
        for kind, value in _scan(md):
            if kind == "heading":
                m = _HEADING_RE.match(value)
                level, text, attrs = len(m.group(1)), m.group(2), m.group(3) or ""
                unnumbered = ".unnumbered" in attrs.split() or "-" in attrs.split()
                hid = next((a[1:] for a in attrs.split() if a.startswith("#")), None)
                if level == 1:
                    if not unnumbered:
                        chap_no += 1
                        counters = [chap_no] + [0] * 5
                    if first:
                        info["title"] = _plain(text)
                        info["number"] = None if unnumbered else chap_no
                        first = False
                    number = None if unnumbered else str(chap_no)
                    label = "Chapter"
                else:
                    if unnumbered or info["number"] is None:
                        number = None
                    else:
                        counters[level - 1] += 1
                        for j in range(level, 6):
                            counters[j] = 0
                        number = ".".join(str(c) for c in counters[:level])
                    label = "Section"
                if hid:
                    xref[hid] = {"text": f"{label} {number}" if number else _plain(text),
                                 "page": page, "kind": "sec"}
            else:
                k = value[:3]
                fig_no[k] += 1
                num = f"{info['number']}.{fig_no[k]}" if info["number"] else str(fig_no[k])
                if value in xref:
                    raise BookBuildError(f"label {value} is used twice (chapter {page})")
                xref[value] = {"text": f"{'Figure' if k == 'fig' else 'Table'} {num}", "page": page, "kind": k}
        chapters.append(info)
    return chapters, xref


LUA_FILTER = r"""
-- Cross references, numbered figures and callouts for the offline renderer.
-- Metadata: rsa-xref = {id = {text=..., href=...}}, rsa-target = "html" | "typst".
local xref = {}
local target = "html"

local function meta(m)
  if m["rsa-target"] then target = pandoc.utils.stringify(m["rsa-target"]) end
  if m["rsa-xref"] then
    for k, v in pairs(m["rsa-xref"]) do
      xref[k] = {text = pandoc.utils.stringify(v.text), href = pandoc.utils.stringify(v.href)}
    end
  end
  m["rsa-xref"] = nil
  return m
end

local function cite(el)
  local out = pandoc.List()
  for i, c in ipairs(el.citations) do
    local x = xref[c.id]
    if not x then
      if c.id:match("^fig%-") or c.id:match("^sec%-") or c.id:match("^tbl%-") then
        io.stderr:write("RSA-XREF-MISSING " .. c.id .. "\n")
        x = {text = "??" .. c.id, href = "#" .. c.id}
      else
        return nil
      end
    end
    if i > 1 then out:insert(pandoc.Str(", ")) end
    out:insert(pandoc.Link(x.text, x.href))
  end
  return out
end

local function div(el)
  if el.identifier:match("^fig%-") or el.identifier:match("^tbl%-") then
    local caption = pandoc.List()
    local content = pandoc.List()
    for _, b in ipairs(el.content) do
      if b.t == "Div" and b.classes:includes("rsa-caption") then
        caption = pandoc.utils.blocks_to_inlines(b.content)
      else
        content:insert(b)
      end
    end
    local x = xref[el.identifier]
    local prefix = x and x.text or "Figure"
    local cap = pandoc.List({pandoc.Strong(pandoc.Str(prefix .. ":")), pandoc.Space()})
    cap:extend(caption)
    return pandoc.Figure(content, {pandoc.Plain(cap)}, pandoc.Attr(el.identifier))
  end
  for _, cls in ipairs(el.classes) do
    if cls:match("^callout%-") then
      local title = el.attributes["title"] or ""
      if target == "typst" then
        local blocks = pandoc.List()
        blocks:insert(pandoc.RawBlock("typst",
          "#block(width: 100%, inset: 8pt, radius: 3pt, stroke: 0.8pt + rgb(\"#b58105\"), fill: rgb(\"#fff8e1\"))["))
        if title ~= "" then blocks:insert(pandoc.Para({pandoc.Strong(pandoc.Str(title))})) end
        blocks:extend(el.content)
        blocks:insert(pandoc.RawBlock("typst", "]"))
        return blocks
      else
        local blocks = pandoc.List()
        if title ~= "" then
          blocks:insert(pandoc.Div({pandoc.Plain({pandoc.Str(title)})}, pandoc.Attr("", {"callout-title"})))
        end
        blocks:extend(el.content)
        el.content = blocks
        el.classes:insert("callout")
        return el
      end
    end
  end
end

return {{Meta = meta}, {Cite = cite, Div = div}}
"""

PAGE_CSS = """
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#212529;line-height:1.55}
.layout{display:flex;min-height:100vh}
nav.sidebar{width:270px;flex:none;background:#f7f7f9;border-right:1px solid #e3e3e3;padding:1.2rem;font-size:.92rem}
nav.sidebar .book-title{font-weight:600;margin-bottom:1rem;display:block;color:#212529;text-decoration:none}
nav.sidebar ol{list-style:none;padding-left:0}
nav.sidebar li{margin:.35rem 0}
nav.sidebar a{color:#2a6ebb;text-decoration:none}
nav.sidebar li.active a{font-weight:600;color:#212529}
main{flex:1;max-width:1200px;padding:1.5rem 2.5rem}
figure{margin:1.5rem 0}
figcaption{font-size:.92rem;color:#444;margin-top:.4rem}
table{border-collapse:collapse;margin:1rem 0}
th,td{border-bottom:1px solid #ddd;padding:.25rem .7rem}
pre{background:#f6f8fa;padding:.7rem;overflow:auto}
.callout{border-left:5px solid #2a6ebb;background:#f1f6fc;padding:.5rem 1rem;margin:1rem 0}
.callout-warning{border-left-color:#d49b00;background:#fff8e1}
.callout-title{font-weight:700;margin-bottom:.3rem}
.page-nav{display:flex;justify-content:space-between;margin-top:3rem;border-top:1px solid #e3e3e3;padding-top:1rem}
.header-section-number{margin-right:.4em}
#refs .csl-entry{margin-bottom:.5rem}
"""


def _page_name(chapter: str) -> str:
    stem = Path(chapter).stem
    return "index.html" if chapter == "index.qmd" else f"{stem}.html"


def _pandoc(args: list[str], text: str, where: str) -> str:
    import pypandoc

    proc = subprocess.run([pypandoc.get_pandoc_path(), *args], input=text, capture_output=True,
                          text=True, encoding="utf-8")
    problems = [ln for ln in proc.stderr.splitlines()
                if "RSA-XREF-MISSING" in ln or "Citeproc: citation" in ln]
    if proc.returncode != 0 or problems:
        raise BookBuildError(f"pandoc failed for {where}:\n{proc.stderr.strip()}")
    return proc.stdout


def _check_xrefs(md: str, xref: dict, where: str) -> None:
    missing = sorted({m for m in _XREF_USE_RE.findall(md) if m not in xref})
    if missing:
        raise BookBuildError(f"{where}: unknown cross-reference(s) {', '.join('@' + m for m in missing)}")


def render_offline(root: str | os.PathLike | None = None, formats: Sequence[str] = ("html", "typst"),
                   log=print) -> dict[str, Any]:
    """Render the book without Quarto (jupytext, nbclient, pandoc, typst) into ``_book/``.

    Result chapters must already be executed (:func:`make_chapters`). Prose
    chapters are executed here, with a cache under ``_build/cache``. Returns
    ``{"pages": [...], "pdf": path or None, "seconds": float}``.
    """
    import yaml

    t0 = time.time()
    root = book_root(root)
    cfg = load_book_config(root)
    chapters = book_chapters(cfg)
    book = cfg.get("book", {}) or {}
    title = str(book.get("title", "Book"))
    build = root / BUILD_DIR
    out = root / OUTPUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    build.mkdir(parents=True, exist_ok=True)
    exec_defaults = dict(cfg.get("execute", {}) or {})
    bib = cfg.get("bibliography") or book.get("bibliography")
    bibs = [bib] if isinstance(bib, str) else list(bib or [])
    bib_args = [f"--bibliography={root / b}" for b in bibs]
    csl = cfg.get("csl")
    if csl:
        bib_args.append(f"--csl={root / csl}")

    notebooks = []
    for ch in chapters:
        path = root / ch
        if not path.is_file():
            raise BookBuildError(f"chapter {ch} listed in the book does not exist"
                                 + (" (run make_chapters)" if ch.startswith(RESULTS_CHAPTER_DIR) else ""))
        nb = execute_chapter(path, root, build / "cache", log=log)
        if path.suffix == ".ipynb":
            errors = [i for i, c in enumerate(nb.cells) if any(
                o.get("output_type") == "error" for o in c.get("outputs", []))]
            if errors:
                raise BookBuildError(f"chapter {ch}: {_cell_name(nb.cells[errors[0]], errors[0])} holds an error output")
        notebooks.append((ch, nb))

    pages = [_page_name(ch) for ch in chapters]
    md = {}
    for target in formats:
        media_dir = (out / "figures") if target == "html" else (build / "figures")
        conv = _Converter(target, exec_defaults, media_dir, "figures")
        md[target] = [(page, conv.notebook(nb, Path(ch).stem)) for (ch, nb), page in zip(notebooks, pages)]
    first = md[formats[0]]
    infos, xref = number_chapters(first)
    for page, text in first:
        _check_xrefs(text, xref, page)
    lua = build / "rsa-book.lua"
    lua.write_text(LUA_FILTER, encoding="utf-8")
    cited = set()
    for _, text in first:
        cited |= set(re.findall(r"@([A-Za-z][\w:.#$%&+?<>~/-]*\w)", text))
    cited = sorted(c for c in cited if not re.match(r"(fig|sec|tbl)-", c))
    result: dict[str, Any] = {"pages": [], "pdf": None}

    if "html" in formats:
        copy_plotly_asset(root)
        (out / "assets").mkdir(exist_ok=True)
        shutil.copyfile(root / PLOTLY_ASSET, out / PLOTLY_ASSET)
        nav_items = []
        for info in infos:
            label = f"{info['number']}&nbsp; " if info["number"] else ""
            nav_items.append((info["page"], f"{label}{html_lib.escape(info['title'])}"))
        for i, (page, text) in enumerate(md["html"]):
            meta = {"rsa-target": "html", "link-citations": True,
                    "rsa-xref": {k: {"text": v["text"], "href": (f"{v['page']}#{k}" if v["page"] != page
                                                                  else f"#{k}")} for k, v in xref.items()}}
            if "{#refs}" in text:
                meta["nocite"] = ", ".join(f"@{c}" for c in cited) or None
            else:
                meta["reference-section-title"] = "References"
            meta_file = build / f"{page}.meta.yaml"
            meta_file.write_text(yaml.safe_dump({k: v for k, v in meta.items() if v is not None}), encoding="utf-8")
            args = ["-f", "markdown", "-t", "html5", f"--lua-filter={lua}", "--citeproc",
                    f"--metadata-file={meta_file}", "--section-divs", "--wrap=none", *bib_args]
            if infos[i]["number"]:
                args += ["--number-sections", f"--number-offset={infos[i]['number'] - 1}"]
            body = _pandoc(args, text, f"chapter page {page}")
            nav = "\n".join(
                f'<li class="{"active" if p == page else ""}"><a href="{p}">{t}</a></li>' for p, t in nav_items)
            prev_link = (f'<a href="{nav_items[i - 1][0]}">← {nav_items[i - 1][1]}</a>' if i > 0 else "<span></span>")
            next_link = (f'<a href="{nav_items[i + 1][0]}">{nav_items[i + 1][1]} →</a>'
                         if i + 1 < len(nav_items) else "<span></span>")
            plotly = f'<script src="{PLOTLY_ASSET}"></script>' if "Plotly.newPlot" in body else ""
            page_title = f"{infos[i]['title']} – {title}"
            doc = (
                "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                f"<title>{html_lib.escape(page_title)}</title>\n<style>{PAGE_CSS}</style>\n{plotly}\n</head>\n"
                f"<body>\n<div class=\"layout\">\n<nav class=\"sidebar\"><a class=\"book-title\" href=\"index.html\">"
                f"{html_lib.escape(title)}</a>\n<ol>\n{nav}\n</ol>\n</nav>\n<main>\n{body}\n"
                f"<nav class=\"page-nav\">{prev_link}{next_link}</nav>\n</main>\n</div>\n</body>\n</html>\n"
            )
            _write_atomic(out / page, doc)
            result["pages"].append(out / page)
        for stale in set(out.glob("*.html")) - set(result["pages"]):
            stale.unlink()  # a chapter no longer in the grid (e.g. after DEPTHS=... shrank)

    if "typst" in formats:
        combined = "\n\n".join(text for _, text in md["typst"])
        meta = {"rsa-target": "typst", "title": title,
                "rsa-xref": {k: {"text": v["text"], "href": f"#{k}"} for k, v in xref.items()}}
        for k in ("subtitle", "author", "date"):
            if book.get(k):
                meta[k] = book[k] if k != "date" or book[k] not in ("today", "last-modified") \
                    else time.strftime("%Y-%m-%d")
        meta_file = build / "book.typst.meta.yaml"
        meta_file.write_text(yaml.safe_dump(meta), encoding="utf-8")
        header = build / "typst-header.typ"
        header.write_text(
            "#set figure(numbering: none)\n"
            "#show heading.where(level: 1): it => { pagebreak(weak: true); it }\n"
            "#show link: set text(fill: rgb(\"#1f4e8c\"))\n", encoding="utf-8")
        args = ["-f", "markdown", "-t", "typst", "--standalone", f"--lua-filter={lua}", "--citeproc",
                f"--metadata-file={meta_file}", f"--include-in-header={header}", "--toc",
                "--number-sections", "-V", "papersize=a4", "-V", "page-numbering=1", *bib_args]
        typ = _pandoc(args, combined, "the PDF (typst)")
        typ_path = build / "book.typ"
        typ_path.write_text(typ, encoding="utf-8")
        if "@preview/" in typ:
            raise BookBuildError("the Typst source imports a @preview package (needs the network)")
        import typst

        pdf_name = f"{book.get('output-file', 'book')}.pdf"
        pdf = out / pdf_name
        try:
            with fileio.atomic_path(pdf, suffix=".pdf") as tmp_pdf:
                typst.compile(str(typ_path), output=str(tmp_pdf), root=str(root))
        except Exception as err:  # typst raises its own error type
            raise BookBuildError(f"typst could not compile {typ_path}: {err}") from None
        result["pdf"] = pdf
    result["seconds"] = time.time() - t0
    log(f"book rendered in {result['seconds']:.1f} s -> {out}")
    return result


def render(grid: Sequence[tuple[str, int]] | None = None, source: str = "synthetic",
           cre_line: str = config.CRE_LINE, seed: int = config.SEED,
           root: str | os.PathLike | None = None, offline: bool | None = None, log=print) -> dict[str, Any]:
    """Make the result chapters, then render the book into ``_book/``.

    ``quarto render`` when Quarto is on PATH (and ``offline`` is not True), else
    :func:`render_offline`.
    """
    root = book_root(root)
    make_chapters(grid, source, cre_line, seed, root=root, log=log)
    quarto = shutil.which("quarto")
    if quarto and not offline:
        t0 = time.time()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(config.PROJECT_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env[ENV_ROOT] = str(root)
        proc = subprocess.run([quarto, "render", "--profile", PROFILE], cwd=root, env=env)
        if proc.returncode:
            raise BookBuildError(f"quarto render failed (exit {proc.returncode})")
        return {"pages": sorted((root / OUTPUT_DIR).glob("**/*.html")),
                "pdf": next(iter(sorted((root / OUTPUT_DIR).glob("*.pdf"))), None),
                "seconds": time.time() - t0}
    return render_offline(root, log=log)


# --------------------------------------------------------------------------------------
# Command line: python -m analysis.book
# --------------------------------------------------------------------------------------


def _parse_grid(items: Sequence[str] | None) -> list[tuple[str, int]] | None:
    if not items:
        return None
    grid = []
    for it in items:
        stim, sep, depth = it.rpartition(":")
        if not sep or not depth.isdigit():
            raise SystemExit(f"--grid entries look like STIMULUS:DEPTH (e.g. natural_scenes:175); got {it!r}")
        grid.append((stim, int(depth)))
    return grid


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.book", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("chapters", "render", "offline"), nargs="?", default="render",
                        help="chapters: execute result chapters only; render: chapters + quarto "
                             "(or offline); offline: chapters + offline renderer")
    parser.add_argument("--source", default="synthetic", choices=config.SOURCES)
    parser.add_argument("--grid", nargs="*", metavar="STIMULUS:DEPTH",
                        help="result chapters to build (default: every stimulus x depth)")
    parser.add_argument("--cre-line", default=config.CRE_LINE)
    parser.add_argument("--seed", type=int, default=config.SEED)
    parser.add_argument("--root", default=None, help="book root (default: the project)")
    args = parser.parse_args(argv)
    grid = _parse_grid(args.grid)
    try:
        if args.command == "chapters":
            make_chapters(grid, args.source, args.cre_line, args.seed, root=args.root)
        else:
            res = render(grid, args.source, args.cre_line, args.seed, root=args.root,
                         offline=args.command == "offline")
            print(f"pages: {len(res['pages'])}; pdf: {res['pdf']}")
    except (BookBuildError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
