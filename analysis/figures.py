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

_FIGURE_COLUMNS = [
    "area", "series", "species", "pathway", "layer", "tick", "x",
    "value", "sd", "n_seeds", "colour", "corrected",
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
    """Noise ceiling per area: columns ``area, median, sd`` (one row per area, in panel order)."""
    _check_columns(table, ["area", "row_type", "score", "score_sd"])
    nc = table[table["row_type"] == "noise_ceiling"]
    dup = nc["area"][nc["area"].duplicated()].unique()
    if len(dup):
        raise ValueError(f"more than one noise-ceiling row for areas {list(dup)}")
    out = pd.DataFrame(
        {"area": nc["area"].astype(str), "median": nc["score"].astype(float),
         "sd": nc["score_sd"].astype(float)}
    )
    order = {a: i for i, a in enumerate(config.AREAS)}
    return out.sort_values("area", key=lambda s: s.map(order)).reset_index(drop=True)


def figure_data(table: pd.DataFrame, corrected: bool = False) -> pd.DataFrame:
    """Tidy data of one figure (one source x stimulus x depth x cre line).

    Parameters
    ----------
    table
        A result table (see :mod:`analysis.book` for its columns) of one stimulus
        and depth: model rows (one per area x species x seed x layer), baseline rows
        (one per area, layer ``pixel``) and noise-ceiling rows (one per area).
    corrected
        Divide every score, SD and the noise ceiling by the area's median noise
        ceiling (the "noise corrected" variant; the ceiling becomes 1).

    Returns
    -------
    pandas.DataFrame
        One row per area x series x layer, plus one row per area with series
        ``"Noise ceiling"``. Columns: ``area``, ``series``, ``species`` (``rat``,
        ``treeshrew``, ``""`` for baseline and ceiling), ``pathway``, ``layer``
        (the network's name, ``pixel`` for the baseline, ``""`` for the ceiling),
        ``tick`` (axis label), ``x`` (tick index + the series' offset),
        ``value`` (median over seeds; the baseline's single value; the ceiling's
        median), ``sd`` (sample SD over seeds, ddof=1; NaN for the baseline, which
        has one value; the ceiling's SD over split halves), ``n_seeds``,
        ``colour`` and ``corrected`` (bool). Units: Kendall tau-a, or a fraction
        of the noise ceiling when ``corrected``.
    """
    _check_columns(table, ["area", "row_type", "species", "seed", "layer", "score", "score_sd"])
    nc = noise_ceilings(table)
    rows: list[dict] = []

    models = table[table["row_type"] == "model"]
    if len(models):
        grouped = models.groupby(["area", "species", "layer"], sort=False)["score"]
        stats = grouped.agg(value="median", sd="std", n_seeds="count").reset_index()
        for r in stats.itertuples(index=False):
            series = series_of(r.species, r.layer)
            tick = tick_of(r.layer)
            rows.append(dict(
                area=r.area, series=series, species=r.species,
                pathway=config.layer_pathway(r.layer), layer=r.layer, tick=tick,
                x=TICKS.index(tick) + OFFSETS[series], value=float(r.value),
                sd=float(r.sd) if r.n_seeds > 1 else np.nan, n_seeds=int(r.n_seeds),
            ))
    base = table[table["row_type"] == "baseline"]
    for r in base.itertuples(index=False):
        rows.append(dict(
            area=r.area, series="Baseline", species="", pathway="pixel", layer=config.PIXEL_LAYER,
            tick="pixel", x=0.0, value=float(r.score), sd=np.nan, n_seeds=1,
        ))
    for r in nc.itertuples(index=False):
        rows.append(dict(
            area=r.area, series=NOISE_CEILING, species="", pathway="", layer="", tick="",
            x=np.nan, value=float(r.median), sd=float(r.sd), n_seeds=0,
        ))
    df = pd.DataFrame(rows, columns=[c for c in _FIGURE_COLUMNS if c not in ("colour", "corrected")])
    df["colour"] = df["series"].map(COLOURS).fillna("grey")
    if corrected:
        ceiling = dict(zip(nc["area"], nc["median"]))
        missing = sorted(set(df["area"]) - set(ceiling))
        if missing:
            raise ValueError(f"no noise ceiling for areas {missing}: cannot correct")
        denom = df["area"].map(ceiling).astype(float)
        df["value"] = df["value"] / denom
        df["sd"] = df["sd"] / denom.abs()
    df["corrected"] = bool(corrected)
    series_order = {s: i for i, s in enumerate(SERIES + (NOISE_CEILING,))}
    area_order = {a: i for i, a in enumerate(config.AREAS)}
    df = df.assign(_a=df["area"].map(area_order), _s=df["series"].map(series_order),
                   _t=df["tick"].map({t: i for i, t in enumerate(TICKS)}).fillna(-1))
    df = df.sort_values(["_a", "_s", "_t"]).drop(columns=["_a", "_s", "_t"])
    return df.reset_index(drop=True)[_FIGURE_COLUMNS]


def summary_data(tables: pd.DataFrame | Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Best-layer score per area x depth x stimulus x species, for the summary figure.

    For each species the best layer of an area is the layer with the highest
    median over seeds (chosen per species, per area, per stimulus and depth).

    Parameters
    ----------
    tables
        Result tables (one per stimulus x depth), or their concatenation.

    Returns
    -------
    pandas.DataFrame
        Columns ``stimulus, depth, area, species, best_layer, value`` (seed median
        at the best layer, tau-a), ``sd`` (SD over seeds there), ``n_seeds``,
        ``noise_ceiling`` (the area's median ceiling), ``noise_ceiling_sd``,
        ``corrected_value`` (value / noise_ceiling) and ``baseline`` (pixel score).
    """
    if isinstance(tables, pd.DataFrame):
        tables = [tables]
    tables = [t for t in tables if len(t)]
    columns = ["stimulus", "depth", "area", "species", "best_layer", "value", "sd", "n_seeds",
               "noise_ceiling", "noise_ceiling_sd", "corrected_value", "baseline"]
    if not tables:
        return pd.DataFrame(columns=columns)
    full = pd.concat(tables, ignore_index=True)
    _check_columns(full, ["stimulus", "depth", "area", "row_type", "species", "layer", "score"])
    rows = []
    for (stimulus, depth), t in full.groupby(["stimulus", "depth"], sort=False):
        nc = noise_ceilings(t).set_index("area")
        base = t[t["row_type"] == "baseline"].set_index("area")["score"]
        models = t[t["row_type"] == "model"]
        stats = (models.groupby(["area", "species", "layer"])["score"]
                 .agg(value="median", sd="std", n_seeds="count").reset_index())
        for (area, species), s in stats.groupby(["area", "species"]):
            best = s.loc[s["value"].idxmax()]
            ceiling = float(nc["median"].get(area, np.nan))
            rows.append(dict(
                stimulus=stimulus, depth=int(depth), area=area, species=species,
                best_layer=best["layer"], value=float(best["value"]), sd=float(best["sd"]),
                n_seeds=int(best["n_seeds"]), noise_ceiling=ceiling,
                noise_ceiling_sd=float(nc["sd"].get(area, np.nan)),
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


def subtitle(cre_line: str, depth: int, stimulus: str) -> str:
    """The original figure's subtitle: ``cre_line: C, depth: D, stimulus: S``."""
    return f"cre_line: {cre_line}, depth: {depth}, stimulus: {stimulus}"


# --------------------------------------------------------------------------------------
# Static rendering (matplotlib)
# --------------------------------------------------------------------------------------

def _y_label(fig_df: pd.DataFrame) -> str:
    return Y_LABEL_CORRECTED if bool(fig_df["corrected"].any()) else Y_LABEL


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
            m, s = float(nc["value"].iloc[0]), float(nc["sd"].iloc[0])
            ax.fill_between([0, len(TICKS) - 1], m - s, m + s, color="grey", alpha=0.5,
                            edgecolor="dimgrey", linewidth=1.2, zorder=1)
            ax.plot([0, len(TICKS) - 1], [m, m], "--", color="black", linewidth=1.5, zorder=2)
        for series in SERIES:
            p = d[d["series"] == series]
            if not len(p):
                continue
            e = p[p["sd"].notna()]
            if len(e):
                ax.errorbar(e["x"], e["value"], yerr=e["sd"], fmt="none", ecolor=COLOURS[series],
                            elinewidth=1.6, capsize=3, zorder=3)
            ax.plot(p["x"], p["value"], "o", markersize=4.5, color=COLOURS[series], zorder=4)
        ax.set_title(area, fontsize=12)
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
        Patch(facecolor="grey", alpha=0.5, edgecolor="dimgrey", label="Noise ceiling ±1 SD"),
    ]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.87, 0.9), frameon=False,
               title="Model", alignment="left", fontsize=9)
    return fig


def plot_summary_static(summary: pd.DataFrame, title: str = "", subtitle: str = "",
                        corrected: bool = False):
    """Draw :func:`summary_data`: best-layer score of each species per area.

    One panel per stimulus (rows) x depth (columns); x: areas; markers: rat and
    treeshrew (seed median at the best layer, error bar SD over seeds), black:
    pixel baseline, dashed segment: the area's median noise ceiling.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    col = "corrected_value" if corrected else "value"
    stimuli = [s for s in config.STIMULI if s in set(summary["stimulus"])] or ["?"]
    depths = sorted(set(int(d) for d in summary["depth"])) or [0]
    fig = Figure(figsize=(5.2 * len(depths) + 2.2, 3.8 * len(stimuli) + 1.0))
    axes = np.atleast_2d(fig.subplots(len(stimuli), len(depths), squeeze=False))
    fig.subplots_adjust(right=0.8, top=0.86 if len(stimuli) > 1 else 0.8, hspace=0.35)
    if title or subtitle:
        fig.suptitle("\n".join(x for x in (title, subtitle) if x), fontsize=12)
    areas = list(config.AREAS)
    for i, stim in enumerate(stimuli):
        for j, depth in enumerate(depths):
            ax = axes[i][j]
            ax.set_facecolor("#e5ecf6")
            ax.grid(True, color="white")
            ax.set_axisbelow(True)
            for spine in ax.spines.values():
                spine.set_visible(False)
            d = summary[(summary["stimulus"] == stim) & (summary["depth"] == depth)]
            if not len(d):
                ax.set_visible(False)
                continue
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
                    if corrected:
                        sd = sd / float(s["noise_ceiling"].iloc[0])
                    ax.errorbar([k + off], [float(s[col].iloc[0])], yerr=[sd], fmt="o",
                                color=SPECIES_COLOURS[sp], capsize=3, markersize=5)
            ax.set_xticks(range(len(areas)))
            ax.set_xticklabels(areas)
            ax.set_title(f"{stim}, depth {depth} µm", fontsize=10)
            if j == 0:
                ax.set_ylabel("best-layer " + (Y_LABEL_CORRECTED if corrected else Y_LABEL))
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

    fig = make_subplots(rows=2, cols=3, subplot_titles=list(config.AREAS),
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
            first = "nc" not in shown
            fig.add_trace(go.Scatter(
                x=[0, x_end, x_end, 0, 0], y=[m + s, m + s, m - s, m - s, m + s], fill="toself",
                fillcolor="rgba(128,128,128,0.5)", line=dict(color="dimgrey", width=1),
                mode="lines", name="Noise ceiling ±1 SD", legendgroup="nc-sd", showlegend=first,
                legendrank=1009,
                hovertemplate=f"{area}<br>noise ceiling ±1 SD: {_fmt(m - s)} – {_fmt(m + s)}<extra></extra>",
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
            ])
            fig.add_trace(go.Scatter(
                x=p["x"], y=p["value"], mode="markers", name=series, legendgroup=series,
                legendrank=1000 + SERIES.index(series),
                showlegend=series not in shown, marker=dict(color=COLOURS[series], size=7),
                error_y=dict(type="data", array=p["sd"].fillna(0).to_numpy(),
                             visible=bool(p["sd"].notna().any()), color=COLOURS[series], width=3),
                customdata=custom,
                hovertemplate=(f"<b>{html.escape(series)}</b> ({area})<br>layer: %{{customdata[0]}}"
                               "<br>value: %{y:.3f}<br>SD: %{customdata[1]}"
                               "<br>seeds: %{customdata[2]}<extra></extra>"),
            ), row=row, col=col)
            shown.add(series)
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


def plot_summary_interactive(summary: pd.DataFrame, title: str = "", subtitle: str = "",
                             corrected: bool = False):
    """Plotly version of :func:`plot_summary_static` (hover: best layer, value, SD, seeds)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    col = "corrected_value" if corrected else "value"
    stimuli = [s for s in config.STIMULI if s in set(summary["stimulus"])] or ["?"]
    depths = sorted(set(int(d) for d in summary["depth"])) or [0]
    titles = [f"{s}, depth {d} µm" for s in stimuli for d in depths]
    fig = make_subplots(rows=len(stimuli), cols=len(depths), subplot_titles=titles)
    areas = list(config.AREAS)
    shown: set[str] = set()
    for i, stim in enumerate(stimuli):
        for j, depth in enumerate(depths):
            d = summary[(summary["stimulus"] == stim) & (summary["depth"] == depth)]
            for sp, off, label in (("rat", -0.12, "Rat (best layer)"),
                                   ("treeshrew", 0.12, "Treeshrew (best layer)")):
                s = d[d["species"] == sp].set_index("area").reindex(areas).dropna(subset=["value"])
                if not len(s):
                    continue
                k = [areas.index(a) + off for a in s.index]
                sd = s["sd"] / (s["noise_ceiling"] if corrected else 1.0)
                fig.add_trace(go.Scatter(
                    x=k, y=s[col], mode="markers", name=label, legendgroup=sp,
                    showlegend=sp not in shown, marker=dict(color=SPECIES_COLOURS[sp], size=8),
                    error_y=dict(type="data", array=sd.fillna(0).to_numpy(), color=SPECIES_COLOURS[sp]),
                    customdata=np.column_stack([list(s.index), s["best_layer"], sd.map(_fmt),
                                                s["n_seeds"].astype(int).astype(str)]),
                    hovertemplate=(f"<b>{label}</b><br>%{{customdata[0]}}<br>best layer: %{{customdata[1]}}"
                                   "<br>value: %{y:.3f}<br>SD: %{customdata[2]}<br>seeds: %{customdata[3]}"
                                   "<extra></extra>"),
                ), row=i + 1, col=j + 1)
                shown.add(sp)
            per_area = d.drop_duplicates("area").set_index("area").reindex(areas).dropna(subset=["value"])
            if len(per_area):
                k = [areas.index(a) for a in per_area.index]
                base = per_area["baseline"] / (per_area["noise_ceiling"] if corrected else 1.0)
                fig.add_trace(go.Scatter(
                    x=k, y=base, mode="markers", name="Baseline (pixel)", legendgroup="pixel",
                    showlegend="pixel" not in shown, marker=dict(color="black", size=6),
                    hovertemplate="Baseline (pixel)<br>value: %{y:.3f}<extra></extra>",
                ), row=i + 1, col=j + 1)
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
                ), row=i + 1, col=j + 1)
                shown.add("nc")
            fig.update_xaxes(tickmode="array", tickvals=list(range(len(areas))), ticktext=areas,
                             range=[-0.6, len(areas) - 0.4], row=i + 1, col=j + 1)
            if j == 0:
                fig.update_yaxes(title_text="best-layer " + (Y_LABEL_CORRECTED if corrected else Y_LABEL),
                                 row=i + 1, col=j + 1)
    head = "<br>".join(x for x in (title, f"<sup>{html.escape(subtitle)}</sup>" if subtitle else "") if x)
    fig.update_layout(title=dict(text=head, x=0.5, xanchor="center") if head else None,
                      height=320 * len(stimuli) + 120, template="plotly")
    return fig


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
