"""Interactive renderings (plotly, for the web): the same figures as :mod:`.static`, with hover text.

plotly is imported inside the functions.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from analysis import config, study
from analysis.report.figures.style import (
    BAND_SD, BEST_SIGNIFICANT, CI_ALPHA, COLOURS, NOISE_CEILING, PANEL_GRID, PROTOCOL_COLOURS,
    PROTOCOL_OFFSETS, PROTOCOLS, ROBUSTNESS_Y_LABEL, SERIES, SIGNIFICANT, SPECIES_COLOURS, TICKS, TITLE,
    Y_LABEL, Y_LABEL_CORRECTED, stimulus_depth_grid, y_label_of,
)


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
                        subplot_titles=[a + (" *" if a in best_sig else "") for a in study.AREAS],
                        horizontal_spacing=0.07, vertical_spacing=0.12)
    y_label = y_label_of(fig_df)
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
                         tickangle=-90, tickfont=dict(size=10), automargin=True,
                         range=[-0.6, x_end + 0.6], row=row, col=col,
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

    stimuli, depths = stimulus_depth_grid(frame)
    titles = [f"{s}, depth {d} µm" for s in stimuli for d in depths]
    return make_subplots(rows=len(stimuli), cols=len(depths), subplot_titles=titles), stimuli, depths


def _interactive_panels(fig, frame: pd.DataFrame, stimuli: list, depths: list, y_label: str):
    """Each stimulus x depth subplot as ``(cell, rows)``; ``cell``: its ``row``/``col`` keywords.

    Once the caller has drawn a subplot (the generator resumes), it gets the area ticks
    and, in the first column, ``y_label`` (as :func:`.static._static_panels` does).
    """
    areas = list(study.AREAS)
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
    areas = list(study.AREAS)
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


def plot_robustness_interactive(frame: pd.DataFrame, title: str = "", subtitle: str = ""):
    """Plotly version of :func:`plot_robustness_static` (hover: best layers, interval, FDR p)."""
    import plotly.graph_objects as go

    fig, stimuli, depths = _interactive_grid(frame)
    areas = list(study.AREAS)
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
