"""The book's content: what the chapters call, computed from the result tables.

Chapters (``index.qmd``, ``chapters/*.qmd``, the results template
``chapters/results_template.ipynb``) only call functions of this package:
:func:`validate_parameters`, :func:`load_results`, :func:`load_tests` and the
``show_*`` functions, each displaying one output (Markdown or a figure bundle).

Modules
-------
``results``       reading result tables, tests, ground truth and the book's settings (reads recorded)
``markdown``      pipe tables, the data notice, provenance, the stimuli's display labels
``summary_text``  a result chapter's summary, the methods' counts table, the conclusion
``inference``     inference notes, the tests table, the protocols' settings, ground truth
``robustness``    the robustness chapter's comparison over the grid
``show``          the ``show_*`` functions (one output each)
``figures``       tidy figure frames, static (matplotlib) and interactive (plotly) figures
``spec``          :func:`book_spec`: the study's grid, labels and parameters for :mod:`analysis.bookbuild`

The robustness chapter compares the protocols for every grid cell that has a
corrected table; when none (or only some) exist it says so in a note naming the
missing files and the command that writes them. Reads of absent optional files
are recorded too, so the chapter is re-executed as soon as they appear.
"""

from analysis.report.inference import (
    ground_truth_markdown, inference_note, protocol_changes_markdown, tests_markdown,
)
from analysis.report.markdown import STIMULUS_LABELS, data_notice, markdown_table, provenance_markdown
from analysis.report.results import (
    book_settings, default_grid, load_all_results, load_ground_truth, load_protocol, load_results,
    load_tests, validate_parameters,
)
from analysis.report.robustness import robustness_frame, robustness_markdown, robustness_table_markdown
from analysis.report.show import (
    show_conclusion, show_data_notice, show_ground_truth, show_identifiability, show_ceiling_estimators, show_markdown, show_published_ceilings, show_methods, show_methods_counts,
    show_protocol_changes, show_provenance, show_results_figure, show_results_text, show_robustness_figure,
    show_robustness_table, show_robustness_text, show_summary_figure, show_tests_table,
)
from analysis.report.spec import book_spec, chapter_code
from analysis.report.summary_text import conclusion_text, methods_counts_table, results_text

__all__ = [
    "STIMULUS_LABELS", "conclusion_text", "data_notice", "ground_truth_markdown", "inference_note",
    "markdown_table", "methods_counts_table", "protocol_changes_markdown", "provenance_markdown",
    "results_text", "robustness_frame", "robustness_markdown", "robustness_table_markdown", "tests_markdown",
    "book_settings", "book_spec", "chapter_code", "default_grid", "load_all_results", "load_ground_truth",
    "load_protocol", "load_results", "load_tests", "show_conclusion", "show_data_notice", "show_ground_truth", "show_identifiability",
    "show_ceiling_estimators", "show_markdown", "show_published_ceilings", "show_methods", "show_methods_counts", "show_protocol_changes", "show_provenance", "show_results_figure",
    "show_results_text", "show_robustness_figure", "show_robustness_table", "show_robustness_text",
    "show_summary_figure", "show_tests_table", "validate_parameters",
]
