"""Static renderings (matplotlib, for print): the result figure, the summary and the robustness grids.

matplotlib is imported inside the functions: importing this module draws nothing.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from analysis import config, study
from analysis.report.figures.style import (
    BEST_SIGNIFICANT, CI_ALPHA, COLOURS, NOISE_CEILING, PANEL_GRID, PROTOCOL_COLOURS, PROTOCOL_OFFSETS,
    PRINT_RC, PRINT_WIDTH_IN, PROTOCOLS, ROBUSTNESS_Y_LABEL, SERIES, SIGNIFICANT, SPECIES_COLOURS, TICKS, TITLE, Y_LABEL,
    Y_LABEL_CORRECTED, band_name, stimulus_depth_grid, y_label_of,
)


def _printed(plot):
    """Draw with :data:`PRINT_RC` (text sizes as printed: the figure is :data:`PRINT_WIDTH_IN` wide)."""
    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(PRINT_RC):
            return plot(*args, **kwargs)
    return wrapper


@_printed
def plot_static(fig_df: pd.DataFrame, title: str = TITLE, subtitle: str = ""):
    """Draw :func:`figure_data` as the original's 2 x 3 grid; returns a matplotlib Figure."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = Figure(figsize=(PRINT_WIDTH_IN, 5.4))
    axes = fig.subplots(2, 3)
    fig.subplots_adjust(left=0.08, right=0.73, top=0.86, bottom=0.15, hspace=0.22, wspace=0.3)
    fig.suptitle(f"{title}\n{subtitle}" if subtitle else title, wrap=True)
    xs = np.arange(len(TICKS))
    y_label = y_label_of(fig_df)
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
            ax.text(mk.x, mk.value, "*", color=mk.colour, fontsize=11, fontweight="bold",
                    ha="center", va="center", zorder=5)
        best = d[d["series"] == BEST_SIGNIFICANT]
        ax.set_title(area + (" *" if len(best) else ""),
                     color=best["colour"].iloc[0] if len(best) else "black")
        ax.set_xticks(xs)
        ax.set_xlim(-0.6, len(TICKS) - 0.4)
        bottom = r == 1 or (r, c + 0) == (0, 2)
        if bottom:
            ax.set_xticklabels(TICKS, rotation=90)
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
        Patch(facecolor="grey", alpha=0.5, edgecolor="dimgrey", label=f"Noise ceiling {band_name(fig_df)}"),
    ]
    if fig_df["ci_low"].notna().any():
        handles.append(Line2D([], [], color="grey", linewidth=4.5, alpha=CI_ALPHA,
                              label="95% bootstrap interval"))
    if fig_df["series"].isin((SIGNIFICANT, BEST_SIGNIFICANT)).any():
        handles.append(Line2D([], [], marker="$*$", linestyle="", color="black", markersize=9,
                              label="rat ≠ treeshrew (FDR);\n* after area: best layers"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.74, 0.86), frameon=False,
               title="Model", alignment="left")
    return fig


def _panel_grid(n_rows: int, n_cols: int, row_height: float, extra_width: float, hspace: float,
                title: str | None, subtitle: str | None):
    """A stimulus x depth grid of panels in the plotly-like style; returns ``(fig, axes[row][col])``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(PRINT_WIDTH_IN, row_height * n_rows + 1.0))
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    fig.subplots_adjust(left=0.1, right=0.72 + 0.02 * (extra_width - 2.2), top=0.84 if n_rows > 1 else 0.74,
                        hspace=hspace, wspace=0.3)
    if title or subtitle:
        fig.suptitle("\n".join(x for x in (title, subtitle) if x), wrap=True)
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
    areas = list(study.AREAS)
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
            ax.set_title(f"{stim}, depth {depth} µm")
            if j == 0:
                ax.set_ylabel(y_label)


@_printed
def plot_summary_static(summary: pd.DataFrame, title: str = "", subtitle: str = "",
                        corrected: bool = False):
    """Draw :func:`summary_data`: best-layer score of each species per area.

    One panel per stimulus (rows) x depth (columns); x: areas; markers: rat and
    treeshrew (seed median at the best layer, error bar SD over seeds), black:
    pixel baseline, dashed segment: the area's median noise ceiling.
    """
    from matplotlib.lines import Line2D

    col = "corrected_value" if corrected else "value"
    stimuli, depths = stimulus_depth_grid(summary)
    fig, axes = _panel_grid(len(stimuli), len(depths), 2.4, 2.2, 0.45, title, subtitle)
    areas = list(study.AREAS)
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
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.74, 0.8), frameon=False)
    return fig


@_printed
def plot_robustness_static(frame: pd.DataFrame, title: str = "", subtitle: str = ""):
    """Draw :func:`robustness_data`: the species difference at the best layers, per protocol.

    One panel per stimulus (rows) x depth (columns); x: areas; one marker per
    protocol (grey: original, green: corrected) with its 95 % interval (when
    tested); an asterisk above a marker: significant after FDR; dotted line: 0.
    """
    from matplotlib.lines import Line2D

    stimuli, depths = stimulus_depth_grid(frame)
    fig, axes = _panel_grid(len(stimuli), len(depths), 2.0, 2.4, 0.55, title, subtitle)
    areas = list(study.AREAS)
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
                ax.text(xx, yy + 0.06 * (span or 1), "*", color=PROTOCOL_COLOURS[prot], fontsize=11,
                        fontweight="bold", ha="center", va="center")
        ax.set_xlim(-0.6, len(areas) - 0.4)
    handles = [Line2D([], [], marker="o", color=PROTOCOL_COLOURS[p], label=f"{p.capitalize()} protocol")
               for p in PROTOCOLS]
    handles.append(Line2D([], [], marker="$*$", linestyle="", color="black", markersize=9,
                          label="significant (FDR)"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.76, 0.8), frameon=False)
    return fig
