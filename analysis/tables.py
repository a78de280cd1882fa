"""The schema of the result tables that the book reads (written by the pipeline).

Result tables
-------------
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
``stimulus, depth, protocol, source``. Loading (:mod:`analysis.report.results`)
is tolerant: a table without interval columns or without a tests table renders
without intervals or significance marks, and the chapter says so.

Ground truth
------------
``results/<source>/ground_truth.csv`` (:func:`ground_truth_path`) with columns
:data:`GROUND_TRUTH_COLUMNS`: ``area, planted_checkpoint, planted_layer,
best_layer, score, ci_low, ci_high, ceiling_low, ceiling_high, recovered`` (bool).
"""

from __future__ import annotations

from pathlib import Path

from analysis import config

#: Columns of the ground-truth recovery table (written beside the result tables).
GROUND_TRUTH_COLUMNS: tuple[str, ...] = (
    "area", "planted_checkpoint", "planted_layer", "best_layer", "score", "ci_low", "ci_high",
    "ceiling_low", "ceiling_high", "recovered",
)


def ground_truth_path(source: str) -> Path:
    """``results/<source>/ground_truth.csv`` (the recovery table of the ground-truth check)."""
    config.validate_choice("source", source, config.SOURCES)
    return config.results_root() / source / "ground_truth.csv"
