"""What the chapters call: one displayed output per call (Markdown or a figure bundle)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.report import figures
from analysis.report.inference import ground_truth_markdown, protocol_changes_markdown, tests_markdown
from analysis.report.markdown import data_notice, provenance_markdown
from analysis.report.results import book_settings, load_all_results
from analysis.report.robustness import (
    missing_note, robustness_frame, robustness_markdown, robustness_table_markdown,
)
from analysis.report.summary_text import conclusion_text, methods_counts_table, results_text


def show_markdown(text: str) -> None:
    """Display Markdown as a ``text/markdown`` output (rendered as part of the page)."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_data_notice(source: str | None = None) -> None:
    """Display the data notice (synthetic-data warning banner) of the book's source."""
    show_markdown(data_notice(source or book_settings()["source"]))


def show_provenance(table: pd.DataFrame, provenance: dict[str, Any], source: str | None = None) -> None:
    show_markdown(provenance_markdown(table, provenance, source))


def show_results_text(table: pd.DataFrame, provenance: dict[str, Any] | None = None) -> None:
    show_markdown(results_text(table, provenance))


def show_methods_counts() -> None:
    show_markdown(methods_counts_table())


def show_ceiling_estimators() -> None:
    """The robustness chapter's comparison of the three noise-ceiling estimators."""
    from analysis.report.ceilings import estimators_markdown

    show_markdown(estimators_markdown())


def show_published_ceilings() -> None:
    """The synthetic survey's noise ceilings against the published ones."""
    from analysis.report.calibration import published_markdown

    show_markdown(published_markdown())


def show_methods(section: str) -> None:
    """One computed paragraph of the methods chapter: ``recordings``, ``stimuli``, ``networks`` or ``rdms``."""
    from analysis.report import methods

    text = {"recordings": methods.recordings_text, "stimuli": methods.stimuli_text,
            "networks": methods.networks_text, "rdms": methods.rdm_text}
    if section not in text:
        raise ValueError(f"unknown methods section {section!r}; valid: {', '.join(text)}")
    show_markdown(text[section](methods.methods_facts()))


def show_conclusion() -> None:
    show_markdown(conclusion_text())


def show_results_figure(table: pd.DataFrame, provenance: dict[str, Any] | None = None,
                        corrected: bool = False, tests: pd.DataFrame | None = None) -> None:
    """Display the figure of one table (both renderings in one output bundle).

    With ``tests`` (the tests table of the same stimulus, depth and protocol)
    significant rat-vs-treeshrew differences are marked.
    """
    provenance = provenance or {}
    fig_df = figures.figure_data(table, corrected=corrected, tests=tests)
    stim = provenance.get("stimulus") or str(table["stimulus"].iloc[0])
    depth = provenance.get("depth") or int(table["depth"].iloc[0])
    cre = provenance.get("cre_line") or str(table["cre_line"].iloc[0])
    sub = figures.subtitle(cre, depth, stim) + (" (noise corrected)" if corrected else "")
    figures.show_figure(figures.plot_static(fig_df, figures.TITLE, sub),
                        figures.plot_interactive(fig_df, figures.TITLE, sub))


def show_summary_figure(corrected: bool = False) -> None:
    """Display the summary figure (best layer per species, all stimuli and depths)."""
    s = book_settings()
    summary = figures.summary_data([t for t, _ in load_all_results(s["source"], s["grid"])])
    title = "Best-layer RDM similarity, rat- vs treeshrew-trained networks"
    sub = f"cre_line: {s['cre_line']}, source: {s['source']}" + (" (noise corrected)" if corrected else "")
    figures.show_figure(figures.plot_summary_static(summary, title, sub, corrected=corrected),
                        figures.plot_summary_interactive(summary, title, sub, corrected=corrected))


def show_tests_table(tests: pd.DataFrame | None, table: pd.DataFrame | None = None) -> None:
    """Display the tests of one stimulus and depth (or a note when there are none)."""
    show_markdown(tests_markdown(tests, table))


def show_protocol_changes() -> None:
    show_markdown(protocol_changes_markdown())


def show_robustness_text() -> None:
    show_markdown(robustness_markdown())


def show_robustness_table() -> None:
    show_markdown(robustness_table_markdown())


def show_identifiability(part: str) -> None:
    """One part of the identifiability chapter: ``design``, ``layers`` or ``species``."""
    from analysis.report import identifiability

    fn = {"design": identifiability.design_text, "layers": identifiability.layers_markdown,
          "species": identifiability.species_markdown}
    if part not in fn:
        raise ValueError(f"unknown identifiability part {part!r}; valid: {', '.join(fn)}")
    show_markdown(fn[part]())


def show_ground_truth() -> None:
    show_markdown(ground_truth_markdown())


def show_robustness_figure() -> None:
    """Display the side-by-side figure of the two protocols (or a note when there is nothing to show)."""
    frame, info = robustness_frame()
    if not len(frame):
        show_markdown(missing_note(info) or "*Nothing to compare.*\n")
        return
    s = book_settings()
    title = "Rat − treeshrew at the best layers, original vs corrected protocol"
    sub = f"cre_line: {s['cre_line']}, source: {s['source']}"
    figures.show_figure(figures.plot_robustness_static(frame, title, sub),
                        figures.plot_robustness_interactive(frame, title, sub))
