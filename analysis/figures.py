"""Tidy figure data and its two renderings (matplotlib for print, plotly for the web).

The figures only *draw* data; every number they show is computed here, in
:func:`figure_data` (one stimulus x depth) and :func:`summary_data` (all of them),
from the tidy result tables written by the pipeline (columns documented in
:mod:`analysis.book`). Both renderings of a figure take the same data frame, so
the static and the interactive version cannot disagree.

Layout and colours reproduce the original study's figures: a 2 x 3 grid of panels
(VISl, VISp, VISpm on top; VISal, VISam below; the sixth cell empty), x axis
"Layer" with ticks pixel, s1, res_block1 ... res_block6, out, y axis
"RDM similarity", one marker (median over the five seeds of a species) with an
error bar (standard deviation over the seeds) per series and layer, and the
noise ceiling of each area as a dashed line (median over split halves) inside a
grey band (+-1 SD over the splits).

:func:`show_figure` displays one output bundle with both renderings
(``text/html``: the plotly div; ``image/png``: the matplotlib figure), so that a
book's HTML pages show the interactive figure and its PDF the static one.

Inference (when the pipeline ran it): each marker also carries the median over
seeds of the per-checkpoint 95 % bootstrap interval (``ci_low``, ``ci_high``),
drawn as a wide, light bar behind the SD error bar; rat-vs-treeshrew differences
that are significant after FDR (tests table, ``significant``) are marked with an
asterisk above the layer (coloured by the higher species), and a significant
best-layer difference puts an asterisk after the panel's area name. Under the
corrected protocol the grey ceiling band spans the Nili lower and upper bounds
instead of +-1 SD. Tables without interval columns or without a tests table
draw exactly the original figure.

:func:`robustness_data` and :func:`robustness_conclusions` compare the original
and the corrected protocol (the robustness chapter).
"""

from __future__ import annotations

import base64
import html
import io
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from analysis import config

# --------------------------------------------------------------------------------------
# Vocabulary of the figures
# --------------------------------------------------------------------------------------

#: Title of the per-stimulus figures (the original's).
TITLE: str = (
    "Representational Similarity Analysis between Mouse Visual Areas and ANNs trained with SSL"
)
#: Tick labels of the layer axis, left to right (P1 and P2 share the res_block ticks).
TICKS: tuple[str, ...] = ("pixel", "s1") + tuple(f"res_block{i}" for i in range(1, 7)) + ("out",)
#: Series in legend order, with their colours (the original palette).
SERIES: tuple[str, ...] = (
    "Baseline",
    "Rat s1/out",
    "Rat P1",
    "Rat P2",
    "Treeshrew s1/out",
    "Treeshrew P1",
    "Treeshrew P2",
)
COLOURS: dict[str, str] = {
    "Baseline": "black",
    "Rat s1/out": "darkblue",
    "Rat P1": "blue",
    "Rat P2": "deepskyblue",
    "Treeshrew s1/out": "darkred",
    "Treeshrew P1": "red",
    "Treeshrew P2": "orange",
}
#: Horizontal offset of each series from its tick (in tick units), so markers do not overlap.
OFFSETS: dict[str, float] = {
    "Baseline": 0.0,
    "Rat s1/out": -0.1,
    "Treeshrew s1/out": 0.1,
    "Rat P1": -0.225,
    "Treeshrew P1": -0.075,
    "Rat P2": 0.075,
    "Treeshrew P2": 0.225,
}
#: Colours of the species in the summary figure.
SPECIES_COLOURS: dict[str, str] = {"rat": "darkblue", "treeshrew": "darkred", "pixel": "black"}
NOISE_CEILING = "Noise ceiling"
#: Panel grid: (row, column) of each area, 0-based (the original's order).
PANEL_GRID: dict[str, tuple[int, int]] = {
    area: divmod(i, 3) for i, area in enumerate(config.AREAS)
}
Y_LABEL = "RDM similarity"
Y_LABEL_CORRECTED = "RDM similarity / noise ceiling"
#: Series of the significance marks (one row per area x layer whose test is significant).
SIGNIFICANT = "Rat ≠ treeshrew (FDR)"
#: Series of the per-area best-layer test (row present when significant; drawn in the panel title).
BEST_SIGNIFICANT = "Best layers differ (FDR)"
#: Lightness of the interval bars (alpha) and their width relative to the SD bars.
CI_ALPHA = 0.3
#: What the ceiling band shows: +-1 SD over split halves, or the Nili bounds across animals.
BAND_SD = "±1 SD"
BAND_NILI = "Nili bounds"
#: Order of the tests-table columns (written by the pipeline; see analysis.book).
TEST_COLUMNS: tuple[str, ...] = (
    "area", "test", "layer", "layer_a", "layer_b", "mean_a", "mean_b", "difference",
    "ci_low", "ci_high", "p", "p_seeds", "p_fdr", "significant",
)

_FIGURE_COLUMNS = [
    "area", "series", "species", "pathway", "layer", "tick", "x",
    "value", "sd", "ci_low", "ci_high", "n_seeds", "band_low", "band_high", "band",
    "difference", "p_fdr", "colour", "corrected",
]


def tick_of(layer: str) -> str:
    """Tick label of a layer: ``p1_res_block3`` and ``p2_res_block3`` -> ``res_block3``."""
    if layer == config.PIXEL_LAYER:
        return "pixel"
    if layer.startswith(("p1_", "p2_")):
        return layer[3:]
    if layer in ("s1", "out"):
        return layer
    raise ValueError(
        f"unknown layer {layer!r}; valid layers: {', '.join((config.PIXEL_LAYER,) + config.LAYERS)}"
    )


def series_of(species: str, layer: str) -> str:
    """Figure series of a (species, layer): ``("rat", "p1_res_block2")`` -> ``"Rat P1"``."""
    if layer == config.PIXEL_LAYER:
        return "Baseline"
    config.validate_choice("species", species, config.SPECIES)
    pathway = config.layer_pathway(layer)
    return f"{species.capitalize()} {'s1/out' if pathway == 'shared' else pathway}"


def _check_columns(table: pd.DataFrame, needed: Iterable[str]) -> None:
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
    _check_columns(table, ["area", "row_type", "score", "score_sd"])
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
    order = {a: i for i, a in enumerate(config.AREAS)}
    return out.sort_values("area", key=lambda s: s.map(order)).reset_index(drop=True)


def _has_ci(table: pd.DataFrame) -> bool:
    return {"ci_low", "ci_high"} <= set(table.columns)


def _tests_of(tests: pd.DataFrame | None) -> pd.DataFrame:
    """The tests table with ``significant`` as bool (empty frame when None)."""
    if tests is None or not len(tests):
        return pd.DataFrame(columns=list(TEST_COLUMNS))
    _check_columns(tests, ["area", "test", "layer", "difference", "significant"])
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
        A result table (see :mod:`analysis.book` for its columns) of one stimulus
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
    _check_columns(table, ["area", "row_type", "species", "seed", "layer", "score", "score_sd"])
    nc = noise_ceilings(table)
    has_ci = _has_ci(table)
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
                pathway=config.layer_pathway(r["layer"]), layer=r["layer"], tick=tick,
                x=TICKS.index(tick) + OFFSETS[series], value=float(r["value"]),
                sd=float(r["sd"]) if r["n_seeds"] > 1 else np.nan, n_seeds=int(r["n_seeds"]),
                ci_low=float(r.get("ci_low", np.nan)), ci_high=float(r.get("ci_high", np.nan)),
            ))
    base = table[table["row_type"] == "baseline"]
    for r in base.to_dict("records"):
        rows.append(dict(
            area=r["area"], series="Baseline", species="", pathway="pixel", layer=config.PIXEL_LAYER,
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
    marks = _significance_marks(df, _tests_of(tests))
    if len(marks):
        df = pd.concat([df, pd.DataFrame(marks, columns=cols)], ignore_index=True)
        df["band"] = df["band"].fillna("")
    df["colour"] = df["series"].map(COLOURS)
    is_mark = df["series"].isin((SIGNIFICANT, BEST_SIGNIFICANT))
    df.loc[is_mark, "colour"] = df.loc[is_mark, "species"].map(SPECIES_COLOURS)
    df["colour"] = df["colour"].fillna("grey")
    df["corrected"] = bool(corrected)
    series_order = {s: i for i, s in enumerate(SERIES + (NOISE_CEILING, SIGNIFICANT, BEST_SIGNIFICANT))}
    area_order = {a: i for i, a in enumerate(config.AREAS)}
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
            if layer not in config.LAYERS:
                continue
            tick = tick_of(layer)
            pair = [series_of(sp, layer) for sp in config.SPECIES]
            at = d[(d["layer"] == layer) & d["series"].isin(pair)]
            y = float(np.nanmax(top[d.index.get_indexer(at.index)])) if len(at) else hi
            marks.append(dict(common, series=SIGNIFICANT, pathway=config.layer_pathway(layer),
                              layer=layer, tick=tick,
                              x=TICKS.index(tick) + float(np.mean([OFFSETS[p] for p in pair])),
                              value=y + margin))
    return marks


def _layer_stats(models: pd.DataFrame) -> pd.DataFrame:
    """Per area x species x layer: seed median, SD, count, mean and median interval bounds."""
    agg = dict(value=("score", "median"), sd=("score", "std"), n_seeds=("score", "count"),
               mean=("score", "mean"))
    if _has_ci(models):
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
    _check_columns(full, ["stimulus", "depth", "area", "row_type", "species", "layer", "score"])
    rows = []
    for (stimulus, depth), t in full.groupby(["stimulus", "depth"], sort=False):
        nc = noise_ceilings(t).set_index("area")
        base = t[t["row_type"] == "baseline"].set_index("area")["score"]
        stats = _layer_stats(t[t["row_type"] == "model"])
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
    order = {a: i for i, a in enumerate(config.AREAS)}
    stim_order = {s: i for i, s in enumerate(config.STIMULI)}
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
    for sp in config.SPECIES:
        if sp not in wide:
            wide[sp] = np.nan
    wide["difference"] = wide["rat"] - wide["treeshrew"]
    wide["higher"] = np.select([wide["difference"] > 0, wide["difference"] < 0],
                               ["rat", "treeshrew"], "tie")
    wide.columns.name = None
    wide = wide.sort_values(
        ["stimulus", "depth", "area"],
        key=lambda s: s.map({v: i for i, v in enumerate(config.STIMULI)}) if s.name == "stimulus"
        else s.map({v: i for i, v in enumerate(config.AREAS)}) if s.name == "area" else s)
    return wide[["stimulus", "depth", "area", "rat", "treeshrew", "difference", "higher"]].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Robustness: the original vs the corrected protocol
# --------------------------------------------------------------------------------------

#: The two protocols compared by :func:`robustness_data`, in display order, with colours.
PROTOCOLS: tuple[str, ...] = ("original", "corrected")
PROTOCOL_COLOURS: dict[str, str] = {"original": "dimgrey", "corrected": "seagreen"}
PROTOCOL_OFFSETS: dict[str, float] = {"original": -0.15, "corrected": 0.15}

_ROBUSTNESS_COLUMNS = [
    "stimulus", "depth", "area", "protocol", "best_layer_rat", "best_layer_treeshrew",
    "pathway_rat", "pathway_treeshrew", "score_rat", "score_treeshrew", "upper_rat",
    "upper_treeshrew", "difference", "higher", "ci_low", "ci_high", "p_fdr", "significant",
    "tested", "ceiling", "ceiling_low", "ceiling_high", "band", "ratio_rat", "ratio_treeshrew",
    "reaches_ceiling", "basis",
]


def _frames(tables) -> list[pd.DataFrame]:
    if tables is None:
        return []
    if isinstance(tables, pd.DataFrame):
        tables = [tables]
    return [t for t in tables if t is not None and len(t)]


def _protocol_rows(tables, tests, protocol: str) -> list[dict]:
    rows: list[dict] = []
    frames = _frames(tables)
    if not frames:
        return rows
    full = pd.concat(frames, ignore_index=True)
    _check_columns(full, ["stimulus", "depth", "area", "row_type", "species", "layer", "score"])
    tfr = _frames(tests)
    tst = _tests_of(pd.concat(tfr, ignore_index=True)) if tfr else _tests_of(None)
    if len(tst):
        _check_columns(tst, ["stimulus", "depth", "layer_a", "layer_b", "mean_a", "mean_b"])
        tst = tst[tst["test"] == "best_layer"]
    for (stimulus, depth), t in full.groupby(["stimulus", "depth"], sort=False):
        nc = noise_ceilings(t).set_index("area")
        stats = _layer_stats(t[t["row_type"] == "model"]).set_index(["area", "species", "layer"])
        bt = tst[(tst["stimulus"].astype(str) == str(stimulus)) & (tst["depth"].astype(int) == int(depth))] \
            if len(tst) else tst
        for area in [a for a in config.AREAS if a in set(t["area"])]:
            if area not in stats.index.get_level_values(0):
                continue
            per = stats.loc[area]
            test = bt[bt["area"] == area]
            r: dict = dict(stimulus=stimulus, depth=int(depth), area=area, protocol=protocol)
            if len(test):
                x = test.iloc[0]
                layers = {"rat": str(x["layer_a"]), "treeshrew": str(x["layer_b"])}
                scores = {"rat": float(x["mean_a"]), "treeshrew": float(x["mean_b"])}
                r.update(difference=float(x["difference"]), ci_low=float(x["ci_low"]),
                         ci_high=float(x["ci_high"]), p_fdr=float(x["p_fdr"]),
                         significant=bool(x["significant"]), tested=True,
                         basis="best-layer test (seed means)")
            else:
                layers, scores = {}, {}
                for sp in config.SPECIES:
                    if sp in per.index.get_level_values(0):
                        v = per.loc[sp]["value"]
                        layers[sp], scores[sp] = str(v.idxmax()), float(v.max())
                r.update(difference=scores.get("rat", np.nan) - scores.get("treeshrew", np.nan),
                         ci_low=np.nan, ci_high=np.nan, p_fdr=np.nan, significant=pd.NA, tested=False,
                         basis="seed medians (no tests table)")
            ceiling = float(nc["median"].get(area, np.nan))
            for sp in config.SPECIES:
                layer = layers.get(sp, "")
                r[f"best_layer_{sp}"] = layer
                r[f"pathway_{sp}"] = config.layer_pathway(layer) if layer else ""
                r[f"score_{sp}"] = scores.get(sp, np.nan)
                hi = np.nan
                if layer and (sp, layer) in per.index:
                    hi = float(per.loc[(sp, layer), "ci_high"])
                r[f"upper_{sp}"] = hi if np.isfinite(hi) else r[f"score_{sp}"]
                r[f"ratio_{sp}"] = r[f"score_{sp}"] / ceiling if ceiling else np.nan
            d = r["difference"]
            r["higher"] = "rat" if d > 0 else "treeshrew" if d < 0 else "tie"
            r.update(ceiling=ceiling, ceiling_low=float(nc["low"].get(area, np.nan)),
                     ceiling_high=float(nc["high"].get(area, np.nan)), band=str(nc["band"].get(area, "")))
            r["reaches_ceiling"] = bool(np.nanmax([r["upper_rat"], r["upper_treeshrew"]]) >= r["ceiling_low"])
            rows.append(r)
    return rows


def robustness_data(original_tables, corrected_tables, original_tests=None,
                    corrected_tests=None) -> pd.DataFrame:
    """Side-by-side comparison of the two protocols (tidy: one row per condition x area x protocol).

    Parameters
    ----------
    original_tables, corrected_tables
        Score tables (one per stimulus x depth, or their concatenation) of each
        protocol. Corrected tables carry ``nili_lower``/``nili_upper`` rows.
    original_tests, corrected_tests
        Tests tables of each protocol (same layout; entries may be None, or the
        argument None, when no tests were run); matched on ``stimulus, depth, area``.

    Returns
    -------
    pandas.DataFrame
        One row per stimulus x depth x area x protocol with columns
        ``best_layer_rat, best_layer_treeshrew, pathway_rat, pathway_treeshrew,
        score_rat, score_treeshrew`` (each species' best layer and its score),
        ``upper_rat, upper_treeshrew`` (upper end of that score's 95 % interval:
        median over seeds of ``ci_high``; the score itself without intervals),
        ``difference`` (rat - treeshrew at the best layers), ``higher``,
        ``ci_low, ci_high, p_fdr, significant, tested`` (the tests table's
        ``best_layer`` row; NaN / NA and ``tested=False`` without one),
        ``ceiling`` (median noise ceiling), ``ceiling_low, ceiling_high, band``
        (the band: Nili bounds under the corrected protocol, median -+ SD
        otherwise), ``ratio_rat, ratio_treeshrew`` (score / ceiling),
        ``reaches_ceiling`` (the higher upper end reaches ``ceiling_low``) and
        ``basis``. With a tests table the best layers and scores are those of the
        test (seed means); without one, the figures' seed medians.
    """
    rows = _protocol_rows(original_tables, original_tests, "original") \
        + _protocol_rows(corrected_tables, corrected_tests, "corrected")
    out = pd.DataFrame(rows, columns=_ROBUSTNESS_COLUMNS)
    out["significant"] = out["significant"].astype("boolean")
    out["tested"] = out["tested"].astype(bool)
    out["reaches_ceiling"] = out["reaches_ceiling"].astype(bool)
    stim_order = {v: i for i, v in enumerate(config.STIMULI)}
    area_order = {v: i for i, v in enumerate(config.AREAS)}
    prot_order = {v: i for i, v in enumerate(PROTOCOLS)}
    out = out.sort_values(["stimulus", "depth", "area", "protocol"], key=lambda s: (
        s.map(stim_order) if s.name == "stimulus" else s.map(area_order) if s.name == "area"
        else s.map(prot_order) if s.name == "protocol" else s))
    return out.reset_index(drop=True)


def robustness_counts(frame: pd.DataFrame) -> dict:
    """The counts behind :func:`robustness_conclusions` (comparisons present under both protocols).

    A comparison is one stimulus x depth x area. Keys: ``n`` (comparisons under
    both protocols), ``n_conditions``, ``one_protocol_only``; per protocol
    ``P`` in ``original``/``corrected``: ``rat_P``, ``treeshrew_P`` (higher
    species), ``tested_P``, ``significant_P``, ``reach_P`` (reaches the ceiling),
    ``ratio_min_P``, ``ratio_max_P`` (best-layer score / ceiling over both species);
    across protocols: ``rat_both``, ``treeshrew_both``, ``sign_flips``,
    ``tested_both``, ``significant_both``, ``significant_both_same_sign``,
    ``rat_significant_both``, ``treeshrew_significant_both``, ``same_best_rat``,
    ``same_best_treeshrew``, ``same_pathway_rat``, ``same_pathway_treeshrew``,
    ``reach_both``.
    """
    keys = ["stimulus", "depth", "area"]
    o = frame[frame["protocol"] == "original"].set_index(keys)
    c = frame[frame["protocol"] == "corrected"].set_index(keys)
    both = o.index.intersection(c.index)
    o, c = o.loc[both], c.loc[both]
    counts: dict = {"n": int(len(both)),
                    "n_conditions": int(len({k[:2] for k in both})),
                    "one_protocol_only": int(len(frame.set_index(keys).index.unique()) - len(both))}
    for name, f in (("original", o), ("corrected", c)):
        counts[f"rat_{name}"] = int((f["higher"] == "rat").sum())
        counts[f"treeshrew_{name}"] = int((f["higher"] == "treeshrew").sum())
        counts[f"tested_{name}"] = int(f["tested"].sum())
        counts[f"significant_{name}"] = int(f["significant"].fillna(False).astype(bool).sum())
        counts[f"reach_{name}"] = int(f["reaches_ceiling"].sum())
        ratios = pd.concat([f["ratio_rat"], f["ratio_treeshrew"]]).astype(float)
        counts[f"ratio_min_{name}"] = float(ratios.min()) if len(ratios) else np.nan
        counts[f"ratio_max_{name}"] = float(ratios.max()) if len(ratios) else np.nan
    rat = (o["higher"] == "rat") & (c["higher"] == "rat")
    ts = (o["higher"] == "treeshrew") & (c["higher"] == "treeshrew")
    so = o["significant"].fillna(False).astype(bool)
    sc = c["significant"].fillna(False).astype(bool)
    counts.update(
        rat_both=int(rat.sum()), treeshrew_both=int(ts.sum()),
        sign_flips=int(((o["higher"] != c["higher"])).sum()),
        tested_both=int((o["tested"] & c["tested"]).sum()),
        significant_both=int((so & sc).sum()),
        significant_both_same_sign=int((so & sc & (o["higher"] == c["higher"])).sum()),
        rat_significant_both=int((rat & so & sc).sum()),
        treeshrew_significant_both=int((ts & so & sc).sum()),
        same_best_rat=int((o["best_layer_rat"] == c["best_layer_rat"]).sum()),
        same_best_treeshrew=int((o["best_layer_treeshrew"] == c["best_layer_treeshrew"]).sum()),
        same_pathway_rat=int((o["pathway_rat"] == c["pathway_rat"]).sum()),
        same_pathway_treeshrew=int((o["pathway_treeshrew"] == c["pathway_treeshrew"]).sum()),
        reach_both=int((o["reaches_ceiling"] & c["reaches_ceiling"]).sum()),
    )
    return counts


def _pct_range(lo: float, hi: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    return f"{lo:.0%}" if round(lo, 2) == round(hi, 2) else f"{lo:.0%} to {hi:.0%}"


def robustness_conclusions(frame: pd.DataFrame) -> list[str]:
    """Statements, computed from :func:`robustness_data`, of which conclusions hold under both protocols.

    One statement each on: the sign of the species difference at the best
    layers; its significance after FDR; the identity and pathway of each
    species' best layer; whether best-layer scores reach the noise ceiling.
    Every statement gives its counts out of the comparisons (stimulus x depth x
    area) present under both protocols. Returns ``[]`` when there are none.
    """
    k = robustness_counts(frame)
    n = k["n"]
    if n == 0:
        return []
    out = [
        f"Sign of the species difference: rat > treeshrew at the best layers in {k['rat_both']} of {n} "
        f"area × condition comparisons under both protocols (original: {k['rat_original']}, "
        f"corrected: {k['rat_corrected']}); treeshrew > rat under both in {k['treeshrew_both']} "
        f"(original: {k['treeshrew_original']}, corrected: {k['treeshrew_corrected']}); the sign "
        f"differs between the protocols in {k['sign_flips']}.",
    ]
    if k["tested_both"] == n:
        out.append(
            f"Significance (best-layer test, FDR-corrected): significant under both protocols in "
            f"{k['significant_both']} of {n} comparisons (original: {k['significant_original']}, "
            f"corrected: {k['significant_corrected']}); rat > treeshrew and significant under both "
            f"in {k['rat_significant_both']}, treeshrew > rat and significant under both in "
            f"{k['treeshrew_significant_both']}.")
    else:
        missing = [p for p in PROTOCOLS if k[f"tested_{p}"] < n]
        out.append(
            f"Significance cannot be compared in {n - k['tested_both']} of {n} comparisons: no tests "
            f"table for the {' and '.join(missing)} protocol there"
            + (f"; where both were tested ({k['tested_both']}), the difference is significant after FDR "
               f"under both in {k['significant_both']}" if k["tested_both"] else "") + ".")
    out.append(
        f"Best-layer identity: the rat networks' best layer is the same under both protocols in "
        f"{k['same_best_rat']} of {n} comparisons, the treeshrew networks' in "
        f"{k['same_best_treeshrew']}; the best layer's pathway (P1, P2 or shared s1/out) is the same "
        f"in {k['same_pathway_rat']} (rat) and {k['same_pathway_treeshrew']} (treeshrew).")
    out.append(
        f"Approach to the noise ceiling: the higher-scoring species' best layer reaches the lower end "
        f"of the ceiling band (its interval's upper end at or above it) in {k['reach_original']} of "
        f"{n} comparisons under the original protocol and {k['reach_corrected']} under the corrected "
        f"one (both: {k['reach_both']}); best-layer scores are "
        f"{_pct_range(k['ratio_min_original'], k['ratio_max_original'])} of the median ceiling under "
        f"the original protocol and "
        f"{_pct_range(k['ratio_min_corrected'], k['ratio_max_corrected'])} under the corrected one.")
    if k["one_protocol_only"]:
        out.append(f"{k['one_protocol_only']} area × condition comparisons have a table under one "
                   "protocol only and are not counted.")
    return out


def subtitle(cre_line: str, depth: int, stimulus: str) -> str:
    """The original figure's subtitle: ``cre_line: C, depth: D, stimulus: S``."""
    return f"cre_line: {cre_line}, depth: {depth}, stimulus: {stimulus}"


# --------------------------------------------------------------------------------------
# Static rendering (matplotlib)
# --------------------------------------------------------------------------------------

def _y_label(fig_df: pd.DataFrame) -> str:
    return Y_LABEL_CORRECTED if bool(fig_df["corrected"].any()) else Y_LABEL


def _band_name(fig_df: pd.DataFrame) -> str:
    bands = fig_df.loc[fig_df["series"] == NOISE_CEILING, "band"]
    return str(bands.iloc[0]) if len(bands) and bands.iloc[0] else BAND_SD


def plot_static(fig_df: pd.DataFrame, title: str = TITLE, subtitle: str = ""):
    """Draw :func:`figure_data` as the original's 2 x 3 grid; returns a matplotlib Figure."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = Figure(figsize=(16, 11.5))
    axes = fig.subplots(2, 3)
    fig.subplots_adjust(left=0.06, right=0.86, top=0.9, bottom=0.1, hspace=0.18, wspace=0.22)
    fig.suptitle(f"{title}\n{subtitle}" if subtitle else title, fontsize=13)
    xs = np.arange(len(TICKS))
    y_label = _y_label(fig_df)
    for area, (r, c) in PANEL_GRID.items():
        ax = axes[r][c]
        ax.set_facecolor("#e5ecf6")
        ax.grid(True, color="white", linewidth=1)
        ax.set_axisbelow(True)
        for spine in ax.spines.values():
            spine.set_visible(False)
        d = fig_df[fig_df["area"] == area]
        nc = d[d["series"] == NOISE_CEILING]
        if len(nc):
            m, lo, hi = (float(nc[k].iloc[0]) for k in ("value", "band_low", "band_high"))
            ax.fill_between([0, len(TICKS) - 1], lo, hi, color="grey", alpha=0.5,
                            edgecolor="dimgrey", linewidth=1.2, zorder=1)
            ax.plot([0, len(TICKS) - 1], [m, m], "--", color="black", linewidth=1.5, zorder=2)
        for series in SERIES:
            p = d[d["series"] == series]
            if not len(p):
                continue
            ci = p[p["ci_low"].notna() & p["ci_high"].notna()]
            if len(ci):  # 95 % interval: a wide, light bar behind the SD error bar
                ax.vlines(ci["x"], ci["ci_low"], ci["ci_high"], colors=COLOURS[series],
                          linewidth=4.5, alpha=CI_ALPHA, zorder=2.5)
            e = p[p["sd"].notna()]
            if len(e):
                ax.errorbar(e["x"], e["value"], yerr=e["sd"], fmt="none", ecolor=COLOURS[series],
                            elinewidth=1.6, capsize=3, zorder=3)
            ax.plot(p["x"], p["value"], "o", markersize=4.5, color=COLOURS[series], zorder=4)
        marks = d[d["series"] == SIGNIFICANT]
        for mk in marks.itertuples(index=False):
            ax.text(mk.x, mk.value, "*", color=mk.colour, fontsize=14, fontweight="bold",
                    ha="center", va="center", zorder=5)
        best = d[d["series"] == BEST_SIGNIFICANT]
        ax.set_title(area + (" *" if len(best) else ""), fontsize=12,
                     color=best["colour"].iloc[0] if len(best) else "black")
        ax.set_xticks(xs)
        ax.set_xlim(-0.6, len(TICKS) - 0.4)
        bottom = r == 1 or (r, c + 0) == (0, 2)
        if bottom:
            ax.set_xticklabels(TICKS, rotation=30, ha="right", fontsize=9)
            ax.set_xlabel("Layer")
        else:
            ax.set_xticklabels([])
        if c == 0:
            ax.set_ylabel(y_label)
        ax.tick_params(length=0)
    axes[1][2].set_visible(False)
    handles = [Line2D([], [], marker="o", linestyle="", color=COLOURS[s], label=s) for s in SERIES]
    handles += [
        Line2D([], [], linestyle="--", color="black", label="Noise ceiling median"),
        Patch(facecolor="grey", alpha=0.5, edgecolor="dimgrey", label=f"Noise ceiling {_band_name(fig_df)}"),
    ]
    if fig_df["ci_low"].notna().any():
        handles.append(Line2D([], [], color="grey", linewidth=4.5, alpha=CI_ALPHA,
                              label="95% bootstrap interval"))
    if fig_df["series"].isin((SIGNIFICANT, BEST_SIGNIFICANT)).any():
        handles.append(Line2D([], [], marker="$*$", linestyle="", color="black", markersize=9,
                              label="rat ≠ treeshrew (FDR);\n* after area: best layers"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.87, 0.9), frameon=False,
               title="Model", alignment="left", fontsize=9)
    return fig


def _stimulus_depth_grid(frame: pd.DataFrame) -> tuple[list[str], list[int]]:
    """Stimuli (in config order) and depths present in a frame: the rows and columns of a panel grid."""
    stimuli = [s for s in config.STIMULI if s in set(frame["stimulus"])] or ["?"]
    depths = sorted(set(int(d) for d in frame["depth"])) or [0]
    return stimuli, depths


def _panel_grid(n_rows: int, n_cols: int, row_height: float, extra_width: float, hspace: float,
                title: str | None, subtitle: str | None):
    """A stimulus x depth grid of panels in the plotly-like style; returns ``(fig, axes[row][col])``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * n_cols + extra_width, row_height * n_rows + 1.0))
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    fig.subplots_adjust(right=0.8, top=0.86 if n_rows > 1 else 0.8, hspace=hspace)
    if title or subtitle:
        fig.suptitle("\n".join(x for x in (title, subtitle) if x), fontsize=12)
    for ax in axes.ravel():
        ax.set_facecolor("#e5ecf6")
        ax.grid(True, color="white")
        ax.set_axisbelow(True)
        for spine in ax.spines.values():
            spine.set_visible(False)
    return fig, axes


def _static_panels(frame: pd.DataFrame, axes, stimuli: list, depths: list, y_label: str):
    """Each non-empty stimulus x depth panel of a static grid figure as ``(ax, rows)``.

    Empty panels are hidden; once the caller has drawn a panel (the generator resumes),
    it gets the area ticks, its title and, in the first column, ``y_label``.
    """
    areas = list(config.AREAS)
    for i, stim in enumerate(stimuli):
        for j, depth in enumerate(depths):
            ax = axes[i][j]
            d = frame[(frame["stimulus"] == stim) & (frame["depth"] == depth)]
            if not len(d):
                ax.set_visible(False)
                continue
            yield ax, d
            ax.set_xticks(range(len(areas)))
            ax.set_xticklabels(areas)
            ax.set_title(f"{stim}, depth {depth} µm", fontsize=10)
            if j == 0:
                ax.set_ylabel(y_label)


def plot_summary_static(summary: pd.DataFrame, title: str = "", subtitle: str = "",
                        corrected: bool = False):
    """Draw :func:`summary_data`: best-layer score of each species per area.

    One panel per stimulus (rows) x depth (columns); x: areas; markers: rat and
    treeshrew (seed median at the best layer, error bar SD over seeds), black:
    pixel baseline, dashed segment: the area's median noise ceiling.
    """
    from matplotlib.lines import Line2D

    col = "corrected_value" if corrected else "value"
    stimuli, depths = _stimulus_depth_grid(summary)
    fig, axes = _panel_grid(len(stimuli), len(depths), 3.8, 2.2, 0.35, title, subtitle)
    areas = list(config.AREAS)
    y_label = "best-layer " + (Y_LABEL_CORRECTED if corrected else Y_LABEL)
    for ax, d in _static_panels(summary, axes, stimuli, depths, y_label):
        for k, area in enumerate(areas):
            a = d[d["area"] == area]
            if not len(a):
                continue
            ncv = 1.0 if corrected else float(a["noise_ceiling"].iloc[0])
            ax.plot([k - 0.35, k + 0.35], [ncv, ncv], "--", color="black", linewidth=1.2)
            base = float(a["baseline"].iloc[0])
            if corrected:
                base = base / float(a["noise_ceiling"].iloc[0])
            ax.plot([k], [base], "o", color="black", markersize=4)
            for sp, off in (("rat", -0.12), ("treeshrew", 0.12)):
                s = a[a["species"] == sp]
                if not len(s):
                    continue
                sd = float(s["sd"].iloc[0])
                scale = float(s["noise_ceiling"].iloc[0]) if corrected else 1.0
                sd = sd / scale
                lo, hi = float(s["ci_low"].iloc[0]), float(s["ci_high"].iloc[0])
                if np.isfinite(lo) and np.isfinite(hi):
                    ax.vlines([k + off], lo / scale, hi / scale, colors=SPECIES_COLOURS[sp],
                              linewidth=4.5, alpha=CI_ALPHA)
                ax.errorbar([k + off], [float(s[col].iloc[0])], yerr=[sd], fmt="o",
                            color=SPECIES_COLOURS[sp], capsize=3, markersize=5)
    handles = [
        Line2D([], [], marker="o", linestyle="", color=SPECIES_COLOURS["rat"], label="Rat (best layer)"),
        Line2D([], [], marker="o", linestyle="", color=SPECIES_COLOURS["treeshrew"],
               label="Treeshrew (best layer)"),
        Line2D([], [], marker="o", linestyle="", color="black", label="Baseline (pixel)"),
        Line2D([], [], linestyle="--", color="black", label="Noise ceiling median"),
    ]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.81, 0.8), frameon=False,
               fontsize=9)
    return fig


# --------------------------------------------------------------------------------------
# Interactive rendering (plotly)
# --------------------------------------------------------------------------------------

def _fmt(v: float) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"


def plot_interactive(fig_df: pd.DataFrame, title: str = TITLE, subtitle: str = ""):
    """Draw :func:`figure_data` with plotly (same layout as :func:`plot_static`).

    Hovering a marker shows its series, layer, value, SD and number of seeds.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    best_sig = set(fig_df.loc[fig_df["series"] == BEST_SIGNIFICANT, "area"])
    fig = make_subplots(rows=2, cols=3,
                        subplot_titles=[a + (" *" if a in best_sig else "") for a in config.AREAS],
                        horizontal_spacing=0.07, vertical_spacing=0.12)
    y_label = _y_label(fig_df)
    x_end = len(TICKS) - 1
    shown: set[str] = set()
    for area, (r, c) in PANEL_GRID.items():
        row, col = r + 1, c + 1
        d = fig_df[fig_df["area"] == area]
        nc = d[d["series"] == NOISE_CEILING]
        if len(nc):
            m, s = float(nc["value"].iloc[0]), float(nc["sd"].iloc[0])
            lo, hi = float(nc["band_low"].iloc[0]), float(nc["band_high"].iloc[0])
            band = str(nc["band"].iloc[0]) or BAND_SD
            first = "nc" not in shown
            fig.add_trace(go.Scatter(
                x=[0, x_end, x_end, 0, 0], y=[hi, hi, lo, lo, hi], fill="toself",
                fillcolor="rgba(128,128,128,0.5)", line=dict(color="dimgrey", width=1),
                mode="lines", name=f"Noise ceiling {band}", legendgroup="nc-sd", showlegend=first,
                legendrank=1009,
                hovertemplate=f"{area}<br>noise ceiling {band}: {_fmt(lo)} – {_fmt(hi)}<extra></extra>",
            ), row=row, col=col)
            fig.add_trace(go.Scatter(
                x=[0, x_end], y=[m, m], mode="lines", line=dict(color="black", dash="dash"),
                name="Noise ceiling median", legendgroup="nc-median", showlegend=first, legendrank=1008,
                hovertemplate=f"{area}<br>noise ceiling median: {_fmt(m)} (SD {_fmt(s)})<extra></extra>",
            ), row=row, col=col)
            shown.add("nc")
        for series in SERIES:
            p = d[d["series"] == series]
            if not len(p):
                continue
            custom = np.column_stack([
                p["layer"].astype(str), p["sd"].map(_fmt), p["n_seeds"].astype(int).astype(str),
                p["ci_low"].map(_fmt), p["ci_high"].map(_fmt),
            ])
            ci = p[p["ci_low"].notna() & p["ci_high"].notna()]
            if len(ci):  # 95 % interval: a wide, light bar behind the SD error bar (no hover)
                fig.add_trace(go.Scatter(
                    x=ci["x"], y=ci["value"], mode="markers", marker=dict(color=COLOURS[series], opacity=0),
                    error_y=dict(type="data", symmetric=False, array=(ci["ci_high"] - ci["value"]).to_numpy(),
                                 arrayminus=(ci["value"] - ci["ci_low"]).to_numpy(), color=COLOURS[series],
                                 thickness=5, width=0),
                    opacity=CI_ALPHA, name=f"{series} 95% interval", legendgroup=series, showlegend=False,
                    hoverinfo="skip"), row=row, col=col)
            fig.add_trace(go.Scatter(
                x=p["x"], y=p["value"], mode="markers", name=series, legendgroup=series,
                legendrank=1000 + SERIES.index(series),
                showlegend=series not in shown, marker=dict(color=COLOURS[series], size=7),
                error_y=dict(type="data", array=p["sd"].fillna(0).to_numpy(),
                             visible=bool(p["sd"].notna().any()), color=COLOURS[series], width=3),
                customdata=custom,
                hovertemplate=(f"<b>{html.escape(series)}</b> ({area})<br>layer: %{{customdata[0]}}"
                               "<br>value: %{y:.3f}<br>SD: %{customdata[1]}"
                               "<br>95% interval: %{customdata[3]} – %{customdata[4]}"
                               "<br>seeds: %{customdata[2]}<extra></extra>"),
            ), row=row, col=col)
            shown.add(series)
        marks = d[d["series"] == SIGNIFICANT]
        if len(marks):
            fig.add_trace(go.Scatter(
                x=marks["x"], y=marks["value"], mode="text", text=["*"] * len(marks),
                textfont=dict(color=marks["colour"].tolist(), size=20), name=SIGNIFICANT,
                legendgroup="sig", showlegend="sig" not in shown, legendrank=1010,
                customdata=np.column_stack([marks["layer"], marks["species"], marks["difference"].map(_fmt),
                                            marks["p_fdr"].map(lambda v: "n/a" if not np.isfinite(v) else f"{v:.3g}")]),
                hovertemplate=(f"{area}: rat ≠ treeshrew at %{{customdata[0]}}<br>higher: %{{customdata[1]}}"
                               "<br>difference (rat − treeshrew): %{customdata[2]}"
                               "<br>FDR-adjusted p: %{customdata[3]}<extra></extra>"),
            ), row=row, col=col)
            shown.add("sig")
        fig.update_xaxes(tickmode="array", tickvals=list(range(len(TICKS))), ticktext=list(TICKS),
                         tickangle=30, range=[-0.6, x_end + 0.6], row=row, col=col,
                         showticklabels=(r == 1 or c == 2),
                         title_text="Layer" if (r == 1 or c == 2) else None)
        if c == 0:
            fig.update_yaxes(title_text=y_label, row=row, col=col)
    full_title = f"{title}<br><sup>{html.escape(subtitle)}</sup>" if subtitle else title
    fig.update_layout(title=dict(text=full_title, x=0.5, xanchor="center", font=dict(size=14)),
                      legend=dict(title="Model", x=0.7, y=0.42, xanchor="left", yanchor="top"),
                      height=800, width=None, margin=dict(l=60, r=20, t=90, b=60),
                      template="plotly")
    return fig


def _interactive_grid(frame: pd.DataFrame):
    """A plotly figure with one subplot per stimulus (rows) x depth (columns) of ``frame``."""
    from plotly.subplots import make_subplots

    stimuli, depths = _stimulus_depth_grid(frame)
    titles = [f"{s}, depth {d} µm" for s in stimuli for d in depths]
    return make_subplots(rows=len(stimuli), cols=len(depths), subplot_titles=titles), stimuli, depths


def _interactive_panels(fig, frame: pd.DataFrame, stimuli: list, depths: list, y_label: str):
    """Each stimulus x depth subplot as ``(cell, rows)``; ``cell``: its ``row``/``col`` keywords.

    Once the caller has drawn a subplot (the generator resumes), it gets the area ticks
    and, in the first column, ``y_label`` (as :func:`_static_panels` does).
    """
    areas = list(config.AREAS)
    for i, stim in enumerate(stimuli):
        for j, depth in enumerate(depths):
            cell = {"row": i + 1, "col": j + 1}
            yield cell, frame[(frame["stimulus"] == stim) & (frame["depth"] == depth)]
            fig.update_xaxes(tickmode="array", tickvals=list(range(len(areas))), ticktext=areas,
                             range=[-0.6, len(areas) - 0.4], **cell)
            if j == 0:
                fig.update_yaxes(title_text=y_label, **cell)


def _finish_interactive(fig, title: str, subtitle: str, n_rows: int):
    """Title, subtitle and height of a grid figure; returns ``fig``."""
    head = "<br>".join(x for x in (title, f"<sup>{html.escape(subtitle)}</sup>" if subtitle else "") if x)
    fig.update_layout(title=dict(text=head, x=0.5, xanchor="center") if head else None,
                      height=320 * n_rows + 120, template="plotly")
    return fig


def plot_summary_interactive(summary: pd.DataFrame, title: str = "", subtitle: str = "",
                             corrected: bool = False):
    """Plotly version of :func:`plot_summary_static` (hover: best layer, value, SD, seeds)."""
    import plotly.graph_objects as go

    col = "corrected_value" if corrected else "value"
    fig, stimuli, depths = _interactive_grid(summary)
    areas = list(config.AREAS)
    shown: set[str] = set()
    y_label = "best-layer " + (Y_LABEL_CORRECTED if corrected else Y_LABEL)
    for cell, d in _interactive_panels(fig, summary, stimuli, depths, y_label):
        for sp, off, label in (("rat", -0.12, "Rat (best layer)"),
                               ("treeshrew", 0.12, "Treeshrew (best layer)")):
            s = d[d["species"] == sp].set_index("area").reindex(areas).dropna(subset=["value"])
            if not len(s):
                continue
            k = [areas.index(a) + off for a in s.index]
            scale = s["noise_ceiling"] if corrected else 1.0
            sd = s["sd"] / scale
            ci = s["ci_low"].notna() & s["ci_high"].notna()
            if ci.any():  # 95 % interval: wide, light bar behind the SD error bar
                y = s[col][ci]
                fig.add_trace(go.Scatter(
                    x=[kk for kk, c in zip(k, ci) if c], y=y, mode="markers",
                    marker=dict(color=SPECIES_COLOURS[sp], opacity=0), opacity=CI_ALPHA,
                    error_y=dict(type="data", symmetric=False, thickness=5, width=0,
                                 array=((s["ci_high"] / scale)[ci] - y).to_numpy(),
                                 arrayminus=(y - (s["ci_low"] / scale)[ci]).to_numpy(),
                                 color=SPECIES_COLOURS[sp]),
                    name=f"{label} 95% interval", legendgroup=sp, showlegend=False, hoverinfo="skip",
                ), **cell)
            fig.add_trace(go.Scatter(
                x=k, y=s[col], mode="markers", name=label, legendgroup=sp,
                showlegend=sp not in shown, marker=dict(color=SPECIES_COLOURS[sp], size=8),
                error_y=dict(type="data", array=sd.fillna(0).to_numpy(), color=SPECIES_COLOURS[sp]),
                customdata=np.column_stack([list(s.index), s["best_layer"], sd.map(_fmt),
                                            s["n_seeds"].astype(int).astype(str)]),
                hovertemplate=(f"<b>{label}</b><br>%{{customdata[0]}}<br>best layer: %{{customdata[1]}}"
                               "<br>value: %{y:.3f}<br>SD: %{customdata[2]}<br>seeds: %{customdata[3]}"
                               "<extra></extra>"),
            ), **cell)
            shown.add(sp)
        per_area = d.drop_duplicates("area").set_index("area").reindex(areas).dropna(subset=["value"])
        if len(per_area):
            k = [areas.index(a) for a in per_area.index]
            base = per_area["baseline"] / (per_area["noise_ceiling"] if corrected else 1.0)
            fig.add_trace(go.Scatter(
                x=k, y=base, mode="markers", name="Baseline (pixel)", legendgroup="pixel",
                showlegend="pixel" not in shown, marker=dict(color="black", size=6),
                hovertemplate="Baseline (pixel)<br>value: %{y:.3f}<extra></extra>",
            ), **cell)
            shown.add("pixel")
            xs, ys = [], []
            for a, v in zip(per_area.index, per_area["noise_ceiling"]):
                kk = areas.index(a)
                xs += [kk - 0.35, kk + 0.35, None]
                ys += [1.0 if corrected else v] * 2 + [None]
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines", line=dict(color="black", dash="dash"),
                name="Noise ceiling median", legendgroup="nc", showlegend="nc" not in shown,
                hovertemplate="noise ceiling median: %{y:.3f}<extra></extra>",
            ), **cell)
            shown.add("nc")
    return _finish_interactive(fig, title, subtitle, len(stimuli))


# --------------------------------------------------------------------------------------
# Robustness figure (both renderings draw robustness_data)
# --------------------------------------------------------------------------------------

ROBUSTNESS_Y_LABEL = "rat − treeshrew at best layers (τa)"


def plot_robustness_static(frame: pd.DataFrame, title: str = "", subtitle: str = ""):
    """Draw :func:`robustness_data`: the species difference at the best layers, per protocol.

    One panel per stimulus (rows) x depth (columns); x: areas; one marker per
    protocol (grey: original, green: corrected) with its 95 % interval (when
    tested); an asterisk above a marker: significant after FDR; dotted line: 0.
    """
    from matplotlib.lines import Line2D

    stimuli, depths = _stimulus_depth_grid(frame)
    fig, axes = _panel_grid(len(stimuli), len(depths), 3.6, 2.4, 0.4, title, subtitle)
    areas = list(config.AREAS)
    for ax, d in _static_panels(frame, axes, stimuli, depths, ROBUSTNESS_Y_LABEL):
        ax.axhline(0, color="black", linestyle=":", linewidth=1)
        span = np.nanmax(np.abs(d[["difference", "ci_low", "ci_high"]].to_numpy(float)))
        for prot in PROTOCOLS:
            p = d[d["protocol"] == prot]
            if not len(p):
                continue
            x = np.array([areas.index(a) for a in p["area"]]) + PROTOCOL_OFFSETS[prot]
            lo = (p["difference"] - p["ci_low"]).to_numpy(float)
            hi = (p["ci_high"] - p["difference"]).to_numpy(float)
            ax.errorbar(x, p["difference"], yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], fmt="o",
                        color=PROTOCOL_COLOURS[prot], capsize=3, markersize=5)
            sig = p["significant"].fillna(False).astype(bool).to_numpy()
            top = np.fmax(p["ci_high"].to_numpy(float), p["difference"].to_numpy(float))
            for xx, yy in zip(x[sig], top[sig]):
                ax.text(xx, yy + 0.06 * (span or 1), "*", color=PROTOCOL_COLOURS[prot], fontsize=14,
                        fontweight="bold", ha="center", va="center")
        ax.set_xlim(-0.6, len(areas) - 0.4)
    handles = [Line2D([], [], marker="o", color=PROTOCOL_COLOURS[p], label=f"{p.capitalize()} protocol")
               for p in PROTOCOLS]
    handles.append(Line2D([], [], marker="$*$", linestyle="", color="black", markersize=9,
                          label="significant (FDR)"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.81, 0.8), frameon=False, fontsize=9)
    return fig


def plot_robustness_interactive(frame: pd.DataFrame, title: str = "", subtitle: str = ""):
    """Plotly version of :func:`plot_robustness_static` (hover: best layers, interval, FDR p)."""
    import plotly.graph_objects as go

    fig, stimuli, depths = _interactive_grid(frame)
    areas = list(config.AREAS)
    shown: set[str] = set()
    for cell, d in _interactive_panels(fig, frame, stimuli, depths, ROBUSTNESS_Y_LABEL):
        for prot in PROTOCOLS:
            p = d[d["protocol"] == prot]
            if not len(p):
                continue
            x = [areas.index(a) + PROTOCOL_OFFSETS[prot] for a in p["area"]]
            sig = p["significant"].fillna(False).astype(bool)
            custom = np.column_stack([
                p["area"], p["best_layer_rat"], p["best_layer_treeshrew"], p["ci_low"].map(_fmt),
                p["ci_high"].map(_fmt), p["p_fdr"].map(lambda v: "n/a" if not np.isfinite(v) else f"{v:.3g}"),
                np.where(sig, "yes", np.where(p["tested"], "no", "not tested")),
            ])
            fig.add_trace(go.Scatter(
                x=x, y=p["difference"], mode="markers+text", name=f"{prot.capitalize()} protocol",
                legendgroup=prot, showlegend=prot not in shown,
                marker=dict(color=PROTOCOL_COLOURS[prot], size=8),
                text=["*" if v else "" for v in sig], textposition="top center",
                textfont=dict(color=PROTOCOL_COLOURS[prot], size=18),
                error_y=dict(type="data", symmetric=False,
                             array=(p["ci_high"] - p["difference"]).fillna(0).to_numpy(),
                             arrayminus=(p["difference"] - p["ci_low"]).fillna(0).to_numpy(),
                             color=PROTOCOL_COLOURS[prot]),
                customdata=custom,
                hovertemplate=(f"<b>{prot} protocol</b> %{{customdata[0]}}<br>rat − treeshrew: %{{y:.3f}}"
                               "<br>95% interval: %{customdata[3]} – %{customdata[4]}"
                               "<br>best layers: rat %{customdata[1]}, treeshrew %{customdata[2]}"
                               "<br>FDR-adjusted p: %{customdata[5]} (significant: %{customdata[6]})"
                               "<extra></extra>"),
            ), **cell)
            shown.add(prot)
        fig.add_hline(y=0, line=dict(color="black", dash="dot", width=1), **cell)
    return _finish_interactive(fig, title, subtitle, len(stimuli))


# --------------------------------------------------------------------------------------
# One output bundle, two renderings
# --------------------------------------------------------------------------------------

def plotly_div(fig) -> str:
    """The plotly figure as an HTML ``<div>`` that needs a page-level plotly.js.

    No plotly.js, no MathJax and no CDN reference inside (``include_plotlyjs=False``,
    ``include_mathjax=False``); the page must load a local ``plotly.min.js``.
    """
    div = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                      config={"responsive": True, "displaylogo": False,
                              "plotlyServerURL": ""})
    return div


def png_bytes(static_fig, dpi: int = 150) -> bytes:
    """PNG of a matplotlib figure (white background)."""
    buf = io.BytesIO()
    static_fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def figure_bundle(static_fig, interactive_fig, dpi: int = 150) -> dict[str, str]:
    """The MIME bundle :func:`show_figure` displays: ``text/html``, ``image/png``, ``text/plain``."""
    return {
        "text/html": plotly_div(interactive_fig),
        "image/png": base64.b64encode(png_bytes(static_fig, dpi=dpi)).decode("ascii"),
        "text/plain": "<figure: interactive (HTML) and static (PNG) renderings>",
    }


def show_figure(static_fig, interactive_fig, dpi: int = 150) -> None:
    """Display ONE output carrying both renderings of a figure.

    HTML output formats pick ``text/html`` (the interactive plotly div); PDF and
    Typst pick ``image/png`` (the static matplotlib figure). Quarto and the
    offline renderer of :mod:`analysis.book` choose per format the same way.
    """
    from IPython.display import display

    display(figure_bundle(static_fig, interactive_fig, dpi=dpi), raw=True)
