"""The figures of the book: tidy figure data and its two renderings.

The figures only *draw* data; every number they show is computed in :mod:`.data`
(one stimulus x depth, the summary) and :mod:`.robustness` (the protocols
compared), from the tidy result tables. Both renderings of a figure,
:mod:`.static` (matplotlib, for print) and :mod:`.interactive` (plotly, for the
web), take the same data frame, so they cannot disagree; :mod:`.bundle` displays
both in one output. :mod:`.style` holds the figures' vocabulary (the original
study's title, ticks, series and colours).

Inference (when the pipeline ran it): each marker also carries the median over
seeds of the per-checkpoint 95 % bootstrap interval, drawn as a wide, light bar
behind the SD error bar; rat-vs-treeshrew differences that are significant after
FDR are marked with an asterisk above the layer (coloured by the higher species),
and a significant best-layer difference puts an asterisk after the panel's area
name. Under the corrected protocol the grey ceiling band spans the Nili lower and
upper bounds instead of +-1 SD.
"""

from analysis.report.figures.bundle import figure_bundle, plotly_div, png_bytes, show_figure
from analysis.report.figures.data import (
    TEST_COLUMNS, figure_data, noise_ceilings, species_comparison, summary_data,
)
from analysis.report.figures.interactive import (
    plot_interactive, plot_robustness_interactive, plot_summary_interactive,
)
from analysis.report.figures.robustness import robustness_conclusions, robustness_counts, robustness_data
from analysis.report.figures.static import plot_robustness_static, plot_static, plot_summary_static
from analysis.report.figures.style import (
    BAND_NILI, BAND_SD, BEST_SIGNIFICANT, CI_ALPHA, COLOURS, NOISE_CEILING, OFFSETS, PANEL_GRID,
    PROTOCOL_COLOURS, PROTOCOL_OFFSETS, PROTOCOLS, ROBUSTNESS_Y_LABEL, SERIES, SIGNIFICANT,
    SPECIES_COLOURS, TICKS, TITLE, PRINT_WIDTH_IN, MIN_FONT_PT, Y_LABEL, Y_LABEL_CORRECTED, series_of, subtitle, tick_of,
)

__all__ = [
    "BAND_NILI", "BAND_SD", "BEST_SIGNIFICANT", "CI_ALPHA", "COLOURS", "NOISE_CEILING", "OFFSETS",
    "PANEL_GRID", "PROTOCOL_COLOURS", "PROTOCOL_OFFSETS", "PROTOCOLS", "ROBUSTNESS_Y_LABEL", "SERIES",
    "MIN_FONT_PT", "PRINT_WIDTH_IN", "SIGNIFICANT", "SPECIES_COLOURS", "TEST_COLUMNS", "TICKS", "TITLE", "Y_LABEL", "Y_LABEL_CORRECTED",
    "figure_bundle", "figure_data", "noise_ceilings", "plot_interactive", "plot_robustness_interactive",
    "plot_robustness_static", "plot_static", "plot_summary_interactive", "plot_summary_static",
    "plotly_div", "png_bytes", "robustness_conclusions", "robustness_counts", "robustness_data",
    "series_of", "show_figure", "species_comparison", "subtitle", "summary_data", "tick_of",
]
