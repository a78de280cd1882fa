"""Reading the result tables for the book (every read is recorded so executed chapters can be cached).

The tables' columns: :mod:`analysis.tables`. Reads go to the file named by
``$RSA_BOOK_READS`` when the build sets it (:mod:`analysis.bookbuild.keys`),
absent optional files included.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis import config, protocols, study, tables
from analysis.bookbuild.layout import ENV_READS, SETTINGS_FILE, book_root
from analysis.tables import GROUND_TRUTH_COLUMNS, ground_truth_path


def default_grid() -> list[tuple[str, int]]:
    """Every stimulus x depth of the original study."""
    return [(s, d) for s in study.DEFAULT_STIMULI for d in study.DEFAULT_DEPTHS]


def validate_parameters(stimulus: Any, depth: Any, source: Any, cre_line: Any = study.CRE_LINE,
                        seed: Any = study.SEED) -> dict[str, Any]:
    """Check the template's parameters before anything runs; return them normalised.

    Raises ValueError naming the bad value and listing the valid ones.
    """
    study.validate_choice("stimulus", stimulus, study.STIMULUS_NAMES)
    study.validate_choice("source", source, study.SOURCES)
    study.validate_choice("cre_line", cre_line, study.CRE_LINES)
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or int(depth) <= 0:
        raise ValueError(
            f"depth must be a positive integer (imaging depth in um, e.g. "
            f"{', '.join(map(str, study.DEFAULT_DEPTHS))}); got {depth!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer (the study uses {study.SEED}); got {seed!r}")
    return dict(stimulus=stimulus, depth=int(depth), source=source, cre_line=cre_line, seed=int(seed))


def record_read(path: Path) -> None:
    log = os.environ.get(ENV_READS)
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(str(Path(path).resolve()) + "\n")


def load_results(source: str, stimulus: str, depth: int, cre_line: str | None = None,
                 seed: int | None = None, protocol: str = protocols.DEFAULT_PROTOCOLS[0]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read one result table and its provenance.

    Returns ``(table, provenance)``: the tidy table (``seed`` as nullable Int64,
    empty strings for empty text fields, ``ci_low``/``ci_high`` NaN and
    ``protocol`` filled in when an older table lacks them) and the provenance
    dict. If ``cre_line`` or ``seed`` are given they must match what the table
    was computed with.
    """
    path = tables.results_path(source, stimulus, depth, protocol=protocol)
    prov_path = path.with_suffix(".json")
    record_read(path)
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
        record_read(prov_path)
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
        raise FileNotFoundError(f"{path} is missing: run analysis.bookbuild.make_chapters() first")
    record_read(path)
    s = json.loads(path.read_text(encoding="utf-8"))
    s["grid"] = [(st, int(d)) for st, d in s["grid"]]
    return s


def source_and_grid(source: str | None, grid: Sequence[tuple[str, int]] | None
                    ) -> tuple[str, list[tuple[str, int]]]:
    """``(source, grid)``, each taken from the book's settings (:func:`book_settings`) when None."""
    if source is None or grid is None:
        s = book_settings()
        source = s["source"] if source is None else source
        grid = s["grid"] if grid is None else grid
    return source, list(grid)


def load_all_results(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None
                     ) -> list[tuple[pd.DataFrame, dict[str, Any]]]:
    """Every (table, provenance) of the book's grid (defaults from :func:`book_settings`)."""
    source, grid = source_and_grid(source, grid)
    return [load_results(source, st, d) for st, d in grid]


def as_bool(series: pd.Series) -> pd.Series:
    if series.dtype == bool:
        return series
    return series.astype(str).str.strip().str.lower().isin(("true", "1", "yes"))


def load_tests(source: str, stimulus: str, depth: int, protocol: str = protocols.DEFAULT_PROTOCOLS[0]) -> pd.DataFrame | None:
    """The tests table of one stimulus, depth and protocol, or None when it was not written.

    ``significant`` is returned as bool; ``layer`` empty strings for best-layer rows.
    """
    path = tables.results_path(source, stimulus, depth, protocol=protocol, kind="tests")
    record_read(path)
    if not path.is_file():
        return None
    t = pd.read_csv(path, dtype={"area": str, "test": str, "layer": str, "layer_a": str, "layer_b": str})
    for col in ("layer", "layer_a", "layer_b"):
        if col in t:
            t[col] = t[col].fillna("")
    if "significant" in t:
        t["significant"] = as_bool(t["significant"])
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
        path = tables.results_path(source, stimulus, depth, protocol=protocol)
        record_read(path)
        if not path.is_file():
            out["missing"].append(path)
            continue
        table, _ = load_results(source, stimulus, depth, protocol=protocol)
        tests = load_tests(source, stimulus, depth, protocol)
        if tests is None:
            out["missing_tests"].append(tables.results_path(source, stimulus, depth, protocol=protocol,
                                                            kind="tests"))
        out["tables"].append(table)
        out["tests"].append(tests)
        out["cells"].append((stimulus, int(depth)))
    return out


def load_ground_truth(source: str) -> pd.DataFrame | None:
    """The ground-truth recovery table, or None when it was not written."""
    path = ground_truth_path(source)
    record_read(path)
    if not path.is_file():
        return None
    t = pd.read_csv(path, dtype={"area": str, "planted_checkpoint": str, "planted_layer": str,
                                 "best_layer": str})
    missing = [c for c in GROUND_TRUTH_COLUMNS if c not in t]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; expected {', '.join(GROUND_TRUTH_COLUMNS)}")
    t["recovered"] = as_bool(t["recovered"])
    return t
