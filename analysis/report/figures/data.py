"""Tidy figure data: every number a figure shows, computed from the result tables.

:func:`figure_data` (one stimulus x depth) and :func:`summary_data` (all of them)
take the tidy result tables written by the pipeline (columns: :mod:`analysis.tables`).
Both renderings of a figure (:mod:`.static`, :mod:`.interactive`) take the same
data frame, so the static and the interactive version cannot disagree.

Inference (when the pipeline ran it): each marker also carries the median over
seeds of the per-checkpoint 95 % bootstrap interval (``ci_low``, ``ci_high``);
rat-vs-treeshrew differences that are significant after FDR (tests table,
``significant``) become mark rows. Under the corrected protocol the ceiling band
spans the Nili lower and upper bounds instead of +-1 SD. Tables without interval
columns or without a tests table give exactly the original figure's data.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from analysis import config, study, tables
from analysis.report.figures.style import (
    BAND_NILI, BAND_SD, BEST_SIGNIFICANT, COLOURS, NOISE_CEILING, OFFSETS, SERIES, SIGNIFICANT,
    SPECIES_COLOURS, TICKS, series_of, tick_of,
)


#: Order of the tests-table columns (written by the pipeline; see analysis.tables).
TEST_COLUMNS: tuple[str, ...] = (
    "area", "test", "layer", "layer_a", "layer_b", "mean_a", "mean_b", "difference",
    "ci_low", "ci_high", "p", "p_seeds", "p_fdr", "significant",
)


_FIGURE_COLUMNS = [
    "area", "series", "species", "pathway", "layer", "tick", "x",
    "value", "sd", "ci_low", "ci_high", "n_seeds", "band_low", "band_high", "band",
    "difference", "p_fdr", "colour", "corrected",
]


def check_columns(table: pd.DataFrame, needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(
            f"result table lacks columns {missing}; it has: {', '.join(map(str, table.columns))}"
        )


def _one_value(table: pd.DataFrame, column: str) -> str:
    values = sorted({str(v) for v in table[column].dropna().unique()})
    if len(values) > 1:
        raise ValueError(f"figure data must come from one {column}; the table holds {values}")
    return values[0] if values else ""


def noise_ceilings(table: pd.DataFrame) -> pd.DataFrame:
    """Noise ceiling per area, in panel order.

    Columns ``area, median, sd`` (the ``noise_ceiling`` row: median and SD over
    split halves; Spearman-Brown corrected under the corrected protocol) and the
    band drawn around it: ``low, high, band``. With ``nili_lower``/``nili_upper``
    rows (corrected protocol) the band is the Nili bounds (``band`` =
    :data:`BAND_NILI`); otherwise ``median -+ sd`` (:data:`BAND_SD`).
    """
    check_columns(table, ["area", "row_type", "score", "score_sd"])
    nc = table[table["row_type"] == "noise_ceiling"]
    dup = nc["area"][nc["area"].duplicated()].unique()
    if len(dup):
        raise ValueError(f"more than one noise-ceiling row for areas {list(dup)}")
    out = pd.DataFrame(
        {"area": nc["area"].astype(str), "median": nc["score"].astype(float),
         "sd": nc["score_sd"].astype(float)}
    )
    lower = table[table["row_type"] == "nili_lower"].drop_duplicates("area").set_index("area")["score"]
    upper = table[table["row_type"] == "nili_upper"].drop_duplicates("area").set_index("area")["score"]
    nili = out["area"].isin(lower.index) & out["area"].isin(upper.index)
    out["low"] = np.where(nili, out["area"].map(lower).astype(float), out["median"] - out["sd"])
    out["high"] = np.where(nili, out["area"].map(upper).astype(float), out["median"] + out["sd"])
    out["band"] = np.where(nili, BAND_NILI, BAND_SD)
    order = {a: i for i, a in enumerate(study.AREAS)}
    return out.sort_values("area", key=lambda s: s.map(order)).reset_index(drop=True)


def has_intervals(table: pd.DataFrame) -> bool:
    return {"ci_low", "ci_high"} <= set(table.columns)


def tests_of(tests: pd.DataFrame | None) -> pd.DataFrame:
    """The tests table with ``significant`` as bool (empty frame when None)."""
    if tests is None or not len(tests):
        return pd.DataFrame(columns=list(TEST_COLUMNS))
    check_columns(tests, ["area", "test", "layer", "difference", "significant"])
    t = tests.copy()
    sig = t["significant"]
    if sig.dtype == object:
        sig = sig.astype(str).str.strip().str.lower().isin(("true", "1", "yes"))
    t["significant"] = sig.fillna(False).astype(bool)
    for col in ("p_fdr", "layer_a", "layer_b", "ci_low", "ci_high"):
        if col not in t:
            t[col] = np.nan
    t["layer"] = t["layer"].fillna("").astype(str)
    return t


def figure_data(table: pd.DataFrame, corrected: bool = False,
                tests: pd.DataFrame | None = None) -> pd.DataFrame:
    """Tidy data of one figure (one source x stimulus x depth x cre line x protocol).

    Parameters
    ----------
    table
        A result table (see :mod:`analysis.tables` for its columns) of one stimulus
        and depth: model rows (one per area x species x seed x layer), baseline rows
        (one per area, layer ``pixel``), noise-ceiling rows (one per area) and,
        under the corrected protocol, ``nili_lower``/``nili_upper`` rows. Optional
        columns ``ci_low, ci_high`` (95 % bootstrap interval of each score).
    corrected
        Divide every score, SD, interval and the noise ceiling by the area's median
        noise ceiling (the "noise corrected" variant; the ceiling becomes 1).
    tests
        The tests table of the same stimulus, depth and protocol (optional): one
        row per area x test (``test`` = ``"layer"`` or ``"best_layer"``) with
        ``difference`` (rat - treeshrew), ``p_fdr`` and ``significant``.

    Returns
    -------
    pandas.DataFrame
        One row per area x series x layer, one row per area with series
        ``"Noise ceiling"``, plus one :data:`SIGNIFICANT` row per significant
        area x layer test and one :data:`BEST_SIGNIFICANT` row per area whose
        best-layer test is significant. Columns: ``area``, ``series``, ``species``
        (``rat``, ``treeshrew``; for marks the species that scores higher; ``""``
        for baseline and ceiling), ``pathway``, ``layer`` (the network's name,
        ``pixel`` for the baseline, ``""`` for the ceiling and best-layer marks),
        ``tick`` (axis label), ``x`` (tick index + the series' offset; a mark sits
        between the two species' markers of its pathway), ``value`` (median over
        seeds; the baseline's single value; the ceiling's median; for a mark the
        height at which it is drawn), ``sd`` (sample SD over seeds, ddof=1; NaN for
        the baseline, which has one value; the ceiling's SD over split halves),
        ``ci_low``/``ci_high`` (median over seeds of the per-checkpoint interval
        bounds; the baseline's own; NaN when the table has none), ``n_seeds``,
        ``band_low``/``band_high``/``band`` (ceiling rows: the grey band's limits
        and what they are, :data:`BAND_SD` or :data:`BAND_NILI`), ``difference``
        and ``p_fdr`` (mark rows), ``colour`` and ``corrected`` (bool). Units:
        Kendall tau-a, or a fraction of the noise ceiling when ``corrected``.
    """
    check_columns(table, ["area", "row_type", "species", "seed", "layer", "score", "score_sd"])
    nc = noise_ceilings(table)
    has_ci = has_intervals(table)
    rows: list[dict] = []

    models = table[table["row_type"] == "model"]
    if len(models):
        agg = dict(value=("score", "median"), sd=("score", "std"), n_seeds=("score", "count"))
        if has_ci:
            agg.update(ci_low=("ci_low", "median"), ci_high=("ci_high", "median"))
        stats = models.groupby(["area", "species", "layer"], sort=False).agg(**agg).reset_index()
        for r in stats.to_dict("records"):
            series = series_of(r["species"], r["layer"])
            tick = tick_of(r["layer"])
            rows.append(dict(
                area=r["area"], series=series, species=r["species"],
                pathway=study.layer_pathway(r["layer"]), layer=r["layer"], tick=tick,
                x=TICKS.index(tick) + OFFSETS[series], value=float(r["value"]),
                sd=float(r["sd"]) if r["n_seeds"] > 1 else np.nan, n_seeds=int(r["n_seeds"]),
                ci_low=float(r.get("ci_low", np.nan)), ci_high=float(r.get("ci_high", np.nan)),
            ))
    base = table[table["row_type"] == "baseline"]
    for r in base.to_dict("records"):
        rows.append(dict(
            area=r["area"], series="Baseline", species="", pathway="pixel", layer=study.PIXEL_LAYER,
            tick="pixel", x=0.0, value=float(r["score"]), sd=np.nan, n_seeds=1,
            ci_low=float(r.get("ci_low", np.nan)), ci_high=float(r.get("ci_high", np.nan)),
        ))
    for r in nc.itertuples(index=False):
        rows.append(dict(
            area=r.area, series=NOISE_CEILING, species="", pathway="", layer="", tick="",
            x=np.nan, value=float(r.median), sd=float(r.sd), n_seeds=0,
            band_low=float(r.low), band_high=float(r.high), band=r.band,
        ))
    cols = [c for c in _FIGURE_COLUMNS if c not in ("colour", "corrected")]
    df = pd.DataFrame(rows, columns=cols)
    df["band"] = df["band"].fillna("")
    if corrected:
        ceiling = dict(zip(nc["area"], nc["median"]))
        missing = sorted(set(df["area"]) - set(ceiling))
        if missing:
            raise ValueError(f"no noise ceiling for areas {missing}: cannot correct")
        denom = df["area"].map(ceiling).astype(float)
        for col in ("value", "ci_low", "ci_high", "band_low", "band_high"):
            df[col] = df[col].astype(float) / denom
        df["sd"] = df["sd"] / denom.abs()
    marks = _significance_marks(df, tests_of(tests))
    if len(marks):
        df = pd.concat([df, pd.DataFrame(marks, columns=cols)], ignore_index=True)
        df["band"] = df["band"].fillna("")
    df["colour"] = df["series"].map(COLOURS)
    is_mark = df["series"].isin((SIGNIFICANT, BEST_SIGNIFICANT))
    df.loc[is_mark, "colour"] = df.loc[is_mark, "species"].map(SPECIES_COLOURS)
    df["colour"] = df["colour"].fillna("grey")
    df["corrected"] = bool(corrected)
    series_order = {s: i for i, s in enumerate(SERIES + (NOISE_CEILING, SIGNIFICANT, BEST_SIGNIFICANT))}
    area_order = {a: i for i, a in enumerate(study.AREAS)}
    df = df.assign(_a=df["area"].map(area_order), _s=df["series"].map(series_order),
                   _t=df["tick"].map({t: i for i, t in enumerate(TICKS)}).fillna(-1),
                   _x=df["x"].fillna(-1))
    df = df.sort_values(["_a", "_s", "_t", "_x"]).drop(columns=["_a", "_s", "_t", "_x"])
    return df.reset_index(drop=True)[_FIGURE_COLUMNS]


def _significance_marks(df: pd.DataFrame, tests: pd.DataFrame) -> list[dict]:
    """Rows of the significance marks (see :func:`figure_data`), placed above the markers."""
    sig = tests[tests["significant"]]
    if not len(sig):
        return []
    marks = []
    for area, t in sig.groupby("area", sort=False):
        d = df[(df["area"] == area) & (df["series"] != NOISE_CEILING)]
        if not len(d):
            continue
        top = np.nanmax(np.column_stack([d["value"], d["value"] + d["sd"].fillna(0), d["ci_high"]]), axis=1)
        ceil = df[(df["area"] == area) & (df["series"] == NOISE_CEILING)]
        lo = float(np.nanmin(np.concatenate([d["value"].to_numpy(float), d["ci_low"].dropna().to_numpy(float)])))
        hi = float(np.nanmax(np.concatenate([top, ceil["band_high"].dropna().to_numpy(float)])))
        margin = 0.05 * (hi - lo if hi > lo else abs(hi) or 1.0)
        for r in t.to_dict("records"):
            higher = "rat" if float(r["difference"]) > 0 else "treeshrew"
            common = dict(area=area, species=higher, difference=float(r["difference"]),
                          p_fdr=float(r.get("p_fdr", np.nan)), sd=np.nan, n_seeds=0,
                          ci_low=float(r.get("ci_low", np.nan)), ci_high=float(r.get("ci_high", np.nan)))
            if r["test"] == "best_layer":
                marks.append(dict(common, series=BEST_SIGNIFICANT, pathway="", layer="", tick="",
                                  x=np.nan, value=np.nan))
                continue
            layer = str(r["layer"])
            if layer not in study.LAYERS:
                continue
            tick = tick_of(layer)
            pair = [series_of(sp, layer) for sp in study.SPECIES]
            at = d[(d["layer"] == layer) & d["series"].isin(pair)]
            y = float(np.nanmax(top[d.index.get_indexer(at.index)])) if len(at) else hi
            marks.append(dict(common, series=SIGNIFICANT, pathway=study.layer_pathway(layer),
                              layer=layer, tick=tick,
                              x=TICKS.index(tick) + float(np.mean([OFFSETS[p] for p in pair])),
                              value=y + margin))
    return marks


def layer_stats(models: pd.DataFrame) -> pd.DataFrame:
    """Per area x species x layer: seed median, SD, count, mean and median interval bounds."""
    agg = dict(value=("score", "median"), sd=("score", "std"), n_seeds=("score", "count"),
               mean=("score", "mean"))
    if has_intervals(models):
        agg.update(ci_low=("ci_low", "median"), ci_high=("ci_high", "median"))
    out = models.groupby(["area", "species", "layer"]).agg(**agg).reset_index()
    for col in ("ci_low", "ci_high"):
        if col not in out:
            out[col] = np.nan
    return out


def summary_data(tables: pd.DataFrame | Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Best-layer score per area x depth x stimulus x species, for the summary figure.

    For each species the best layer of an area is the layer with the highest
    median over seeds (chosen per species, per area, per stimulus and depth).

    Parameters
    ----------
    tables
        Result tables (one per stimulus x depth, one protocol), or their concatenation.

    Returns
    -------
    pandas.DataFrame
        Columns ``stimulus, depth, area, species, best_layer, value`` (seed median
        at the best layer, tau-a), ``sd`` (SD over seeds there), ``n_seeds``,
        ``ci_low, ci_high`` (median over seeds of the interval bounds there; NaN
        without intervals), ``noise_ceiling`` (the area's median ceiling),
        ``noise_ceiling_sd``, ``ceiling_low, ceiling_high`` (the ceiling band: Nili
        bounds or median -+ SD, see :func:`noise_ceilings`), ``corrected_value``
        (value / noise_ceiling) and ``baseline`` (pixel score).
    """
    if isinstance(tables, pd.DataFrame):
        tables = [tables]
    tables = [t for t in tables if len(t)]
    columns = ["stimulus", "depth", "area", "species", "best_layer", "value", "sd", "n_seeds",
               "ci_low", "ci_high", "noise_ceiling", "noise_ceiling_sd", "ceiling_low", "ceiling_high",
               "corrected_value", "baseline"]
    if not tables:
        return pd.DataFrame(columns=columns)
    full = pd.concat(tables, ignore_index=True)
    check_columns(full, ["stimulus", "depth", "area", "row_type", "species", "layer", "score"])
    rows = []
    for (stimulus, depth), t in full.groupby(["stimulus", "depth"], sort=False):
        nc = noise_ceilings(t).set_index("area")
        base = t[t["row_type"] == "baseline"].set_index("area")["score"]
        stats = layer_stats(t[t["row_type"] == "model"])
        for (area, species), s in stats.groupby(["area", "species"]):
            best = s.loc[s["value"].idxmax()]
            ceiling = float(nc["median"].get(area, np.nan))
            rows.append(dict(
                stimulus=stimulus, depth=int(depth), area=area, species=species,
                best_layer=best["layer"], value=float(best["value"]), sd=float(best["sd"]),
                n_seeds=int(best["n_seeds"]), ci_low=float(best["ci_low"]), ci_high=float(best["ci_high"]),
                noise_ceiling=ceiling, noise_ceiling_sd=float(nc["sd"].get(area, np.nan)),
                ceiling_low=float(nc["low"].get(area, np.nan)), ceiling_high=float(nc["high"].get(area, np.nan)),
                corrected_value=float(best["value"]) / ceiling if ceiling else np.nan,
                baseline=float(base.get(area, np.nan)),
            ))
    out = pd.DataFrame(rows, columns=columns)
    order = {a: i for i, a in enumerate(study.AREAS)}
    stim_order = {s: i for i, s in enumerate(study.STIMULUS_NAMES)}
    out = out.sort_values(["stimulus", "depth", "area", "species"],
                          key=lambda s: s.map(stim_order) if s.name == "stimulus"
                          else s.map(order) if s.name == "area" else s)
    return out.reset_index(drop=True)


def species_comparison(summary: pd.DataFrame, corrected: bool = False) -> pd.DataFrame:
    """Which species' best layer scores higher, per stimulus x depth x area.

    Columns ``stimulus, depth, area, rat, treeshrew, difference`` (rat - treeshrew)
    and ``higher`` (``"rat"``, ``"treeshrew"`` or ``"tie"``).
    """
    col = "corrected_value" if corrected else "value"
    wide = summary.pivot_table(index=["stimulus", "depth", "area"], columns="species",
                               values=col, aggfunc="first").reset_index()
    for sp in study.SPECIES:
        if sp not in wide:
            wide[sp] = np.nan
    wide["difference"] = wide["rat"] - wide["treeshrew"]
    wide["higher"] = np.select([wide["difference"] > 0, wide["difference"] < 0],
                               ["rat", "treeshrew"], "tie")
    wide.columns.name = None
    wide = wide.sort_values(
        ["stimulus", "depth", "area"],
        key=lambda s: s.map({v: i for i, v in enumerate(study.STIMULUS_NAMES)}) if s.name == "stimulus"
        else s.map({v: i for i, v in enumerate(study.AREAS)}) if s.name == "area" else s)
    return wide[["stimulus", "depth", "area", "rat", "treeshrew", "difference", "higher"]].reset_index(drop=True)
