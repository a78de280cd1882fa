"""Vocabulary of the figures: title, ticks, series, colours, offsets, labels (the original study's).

Layout and colours reproduce the original study's figures: a 2 x 3 grid of panels
(VISl, VISp, VISpm on top; VISal, VISam below; the sixth cell empty), x axis
"Layer" with ticks pixel, s1, res_block1 ... res_block6, out, y axis
"RDM similarity", one marker (median over the five seeds of a species) with an
error bar (standard deviation over the seeds) per series and layer, and the
noise ceiling of each area as a dashed line (median over split halves) inside a
grey band (+-1 SD over the splits).
"""

from __future__ import annotations

import pandas as pd

from analysis import config, protocols, study


#: Width of the static (print) figures: the PDF's text width (A4, 2.5 cm margins: 16 cm), so
#: that they are printed at their drawn size (analysis.bookbuild.layout.PDF_TEXT_WIDTH_IN).
PRINT_WIDTH_IN: float = 16 / 2.54


#: Smallest font size of a static figure, in points as printed.
MIN_FONT_PT: float = 7.0


#: matplotlib settings of the static figures (sizes in points as printed).
PRINT_RC: dict = {
    "font.size": 7.5, "axes.titlesize": 8, "axes.labelsize": 7.5, "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT, "legend.fontsize": MIN_FONT_PT, "legend.title_fontsize": 7.5,
    "figure.titlesize": 8.5, "lines.markersize": 4,
}


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
    area: divmod(i, 3) for i, area in enumerate(study.AREAS)
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


#: The two protocols compared by :func:`robustness_data`, in display order (the study's
#: default pair: the reference, then the alternative), with colours.
PROTOCOLS: tuple[str, ...] = tuple(protocols.DEFAULT_PROTOCOLS[:2])
REFERENCE, ALTERNATIVE = PROTOCOLS


PROTOCOL_COLOURS: dict[str, str] = {REFERENCE: "dimgrey", ALTERNATIVE: "seagreen"}


PROTOCOL_OFFSETS: dict[str, float] = {REFERENCE: -0.15, ALTERNATIVE: 0.15}


ROBUSTNESS_Y_LABEL = "rat − treeshrew at best layers (τa)"


def tick_of(layer: str) -> str:
    """Tick label of a layer: ``p1_res_block3`` and ``p2_res_block3`` -> ``res_block3``."""
    if layer == study.PIXEL_LAYER:
        return "pixel"
    if layer.startswith(("p1_", "p2_")):
        return layer[3:]
    if layer in ("s1", "out"):
        return layer
    raise ValueError(
        f"unknown layer {layer!r}; valid layers: {', '.join((study.PIXEL_LAYER,) + study.LAYERS)}"
    )


def series_of(species: str, layer: str) -> str:
    """Figure series of a (species, layer): ``("rat", "p1_res_block2")`` -> ``"Rat P1"``."""
    if layer == study.PIXEL_LAYER:
        return "Baseline"
    study.validate_choice("species", species, study.SPECIES)
    pathway = study.layer_pathway(layer)
    return f"{species.capitalize()} {'s1/out' if pathway == 'shared' else pathway}"


def subtitle(cre_line: str, depth: int, stimulus: str) -> str:
    """The original figure's subtitle: ``cre_line: C, depth: D, stimulus: S``."""
    return f"cre_line: {cre_line}, depth: {depth}, stimulus: {stimulus}"


def y_label_of(fig_df: pd.DataFrame) -> str:
    return Y_LABEL_CORRECTED if bool(fig_df["corrected"].any()) else Y_LABEL


def band_name(fig_df: pd.DataFrame) -> str:
    bands = fig_df.loc[fig_df["series"] == NOISE_CEILING, "band"]
    return str(bands.iloc[0]) if len(bands) and bands.iloc[0] else BAND_SD


def stimulus_depth_grid(frame: pd.DataFrame) -> tuple[list[str], list[int]]:
    """Stimuli (in config order) and depths present in a frame: the rows and columns of a panel grid."""
    stimuli = [s for s in study.STIMULUS_NAMES if s in set(frame["stimulus"])] or ["?"]
    depths = sorted(set(int(d) for d in frame["depth"])) or [0]
    return stimuli, depths
