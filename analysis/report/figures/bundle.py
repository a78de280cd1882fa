"""One output bundle, two renderings: the plotly div for HTML pages, the PNG for the PDF.

:func:`show_figure` displays one output with both renderings (``text/html``: the
plotly div; ``image/png``: the matplotlib figure), so that a book's HTML pages show
the interactive figure and its PDF the static one.
"""

from __future__ import annotations

import base64
import io


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
    offline renderer of :mod:`analysis.bookbuild` choose per format the same way.
    """
    from IPython.display import display

    display(figure_bundle(static_fig, interactive_fig, dpi=dpi), raw=True)
