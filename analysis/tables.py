"""The result tables: every CSV schema, its path, reading, atomic writing and provenance.

The one module that knows what the pipeline writes and where:

* the scores table ``results/<source>/<stimulus>_<depth>[_<protocol>].csv`` (columns
  :data:`COLUMNS`; one row per area x checkpoint x layer, a pixel-baseline row and the
  ceiling rows per area), with its provenance JSON beside it;
* the tests table ``..._tests.csv`` (columns :data:`TEST_COLUMNS`);
* the ceilings table ``..._ceilings.csv`` (columns :data:`CEILING_COLUMNS`): every
  noise-ceiling estimator per area, for the robustness chapter;
* the ground-truth table ``results/<source>/ground_truth.csv`` (:func:`ground_truth_path`;
  columns :data:`GROUND_TRUTH_COLUMNS` plus ``analysis.ground_truth.EXTRA_COLUMNS``).

Scores table: ``row_type`` is ``"model"``, ``"baseline"`` (the pixel layer),
``"noise_ceiling"`` or, under protocols with Nili bounds, ``"nili_lower"``/``"nili_upper"``;
``ci_low``/``ci_high`` are the 95 % bootstrap interval of the score (NaN without
inference). Tests table: one row per area x test, ``test`` ``"layer"`` or
``"best_layer"``, ``difference`` = rat - treeshrew, BH-FDR-corrected ``p_fdr``. The
book's loading (:mod:`analysis.report.results`) is tolerant: a table without interval
columns or without a tests table renders without intervals or significance marks.

The default protocol (the first of :data:`analysis.protocols.PROTOCOLS`) keeps the bare
file name; every other protocol adds ``_<name>``.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from . import config, fileio, study

#: Columns of the tidy scores table, in order.
COLUMNS: tuple[str, ...] = (
    "source", "stimulus", "depth", "cre_line", "area", "row_type", "species", "seed",
    "checkpoint", "layer", "pathway", "score", "score_sd", "n_conditions", "n_neurons",
    "n_experiments", "ci_low", "ci_high", "protocol",
)
#: Row types of the scores table (``nili_*`` only under protocols with ``nili_bounds``).
ROW_TYPES: tuple[str, ...] = ("noise_ceiling", "nili_lower", "nili_upper", "baseline", "model")
#: Columns of the tests table (one row per area x test), in order.
TEST_COLUMNS: tuple[str, ...] = (
    "area", "test", "layer", "layer_a", "layer_b", "mean_a", "mean_b", "difference", "ci_low",
    "ci_high", "p", "p_seeds", "p_fdr", "significant", "stimulus", "depth", "protocol", "source",
)
#: Columns of the ground-truth recovery table (written beside the result tables).
GROUND_TRUTH_COLUMNS: tuple[str, ...] = (
    "area", "planted_checkpoint", "planted_layer", "best_layer", "score", "ci_low", "ci_high",
    "ceiling_low", "ceiling_high", "recovered",
)
#: Columns of the ceilings table of one run: every noise-ceiling estimator
#: (:data:`analysis.rdm.CEILING_ESTIMATORS`) on the same splits, per area; ``used`` marks the
#: protocol's own (the one in the scores table's ``noise_ceiling`` row).
CEILING_COLUMNS: tuple[str, ...] = (
    "source", "stimulus", "depth", "area", "protocol", "estimator", "median", "sd", "n_splits", "used",
)
#: Table kinds of one run.
KINDS: tuple[str, ...] = ("scores", "tests", "ceilings")
#: Packages whose versions go into the provenance.
PROVENANCE_PACKAGES: tuple[str, ...] = (
    "allensdk", "numpy", "scipy", "pandas", "torch", "rsatoolbox", "numba", "h5py", "pynwb",
)


def results_path(source: str, stimulus: str, depth: int, suffix: str = ".csv",
                 protocol: str | None = None, kind: str = "scores") -> Path:
    """Path of one result table.

    ``results/<source>/<stimulus>_<depth><suffix>`` for the default protocol's scores;
    other protocols add ``_<protocol>`` and the tests table adds ``_tests`` to the stem
    (e.g. ``natural_scenes_175_corrected_tests.csv``).
    """
    from . import protocols  # settings only (no I/O, no torch)

    study.validate_choice("source", source, study.SOURCES)
    study.get_stimulus(stimulus)
    default = next(iter(protocols.PROTOCOLS))
    protocol = protocols.get_protocol(protocol or default).name
    study.validate_choice("table kind", kind, KINDS)
    stem = f"{stimulus}_{int(depth)}"
    if protocol != default:
        stem += f"_{protocol}"
    if kind != "scores":
        stem += f"_{kind}"
    return config.results_root() / source / f"{stem}{suffix}"


def run_paths(source: str, stimulus: str, depth: int, protocol: str) -> tuple[Path, Path, Path]:
    """``(scores CSV, tests CSV, provenance JSON)`` of one run."""
    scores = results_path(source, stimulus, depth, protocol=protocol)
    return scores, results_path(source, stimulus, depth, protocol=protocol, kind="tests"), scores.with_suffix(".json")


def ground_truth_path(source: str) -> Path:
    """``results/<source>/ground_truth.csv`` (the recovery table of the ground-truth check)."""
    study.validate_choice("source", source, study.SOURCES)
    return config.results_root() / source / "ground_truth.csv"


def identifiability_paths(source: str) -> dict[str, Path]:
    """``results/<source>/identifiability_{layers,species}.csv`` and the settings JSON beside them."""
    study.validate_choice("source", source, study.SOURCES)
    base = config.results_root() / source
    return {"layers": base / "identifiability_layers.csv", "species": base / "identifiability_species.csv",
            "meta": base / "identifiability.json"}


def to_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The scores table with its fixed column order and dtypes."""
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["seed"] = table["seed"].astype("Int64")
    return table


def git_commit() -> str:
    """Commit of the project checkout (``"unknown"`` outside git), ``+dirty`` if modified."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.PROJECT_ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=config.PROJECT_ROOT, capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions(names: Sequence[str] = PROVENANCE_PACKAGES) -> dict[str, str]:
    """Installed versions of the named packages."""
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out


def environment_provenance() -> dict[str, Any]:
    """Package versions, Python version and git commit (the part of a provenance about the code)."""
    return {"packages": package_versions(), "python": platform.python_version(), "git_commit": git_commit()}


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write a table as CSV (deterministic float format), atomically."""
    return fileio.write_atomic(path, lambda p: table.to_csv(p, index=False, float_format="%.12g"))


def write_json(obj: dict[str, Any], path: Path) -> Path:
    """Write JSON (sorted keys, indented), atomically."""
    return fileio.write_atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"))
