"""Layout of the book sources (relative to the book root) and the chapter kernels' contract.

The chapters' kernels read two environment variables set by the build:
:data:`ENV_ROOT` (the book root, where :data:`SETTINGS_FILE` lies) and
:data:`ENV_READS` (a file to which every read of a result file is appended, so that
executed chapters can be cached on what they read).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

#: The project: the folder above the ``analysis`` package (the default book root).
PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent.parent
#: Name of the generated Quarto profile that holds the chapter list.
PROFILE: str = "grid"
PROFILE_FILE: str = f"_quarto-{PROFILE}.yml"
TEMPLATE: str = "chapters/results_template.ipynb"
RESULTS_CHAPTER_DIR: str = "chapters/results"
SETTINGS_FILE: str = f"{RESULTS_CHAPTER_DIR}/_book.json"
#: Chapters before and after the generated result chapters.
FRONT_CHAPTERS: tuple[str, ...] = ("index.qmd", "chapters/background.qmd", "chapters/methods.qmd")
BACK_CHAPTERS: tuple[str, ...] = ("chapters/conclusion.qmd", "references.qmd")
#: The robustness chapter (original vs corrected protocol): after the result chapters.
ROBUSTNESS_CHAPTER: str = "chapters/robustness.qmd"
#: Can the design tell the networks apart (planted data): after the robustness chapter.
IDENTIFIABILITY_CHAPTER: str = "chapters/identifiability.qmd"
#: Local copy of plotly.js that HTML pages load (copied from the plotly wheel).
PLOTLY_ASSET: str = "assets/plotly.min.js"
#: Local KaTeX (math on HTML pages, both renderers): copied from the npm package ``katex``
#: (``package.json``; ``npm ci`` installs it into ``node_modules/``) or from ``$RSA_KATEX``.
KATEX_ASSET_DIR: str = "assets/katex"
ENV_KATEX = "RSA_KATEX"
#: Text width of the PDF (A4, 2.5 cm margins, both renderers): static figures are drawn at it.
PDF_TEXT_WIDTH_IN: float = (210 - 2 * 25) / 25.4
BUILD_DIR: str = "_build"
#: Kernel options: only errors from the kernel's own logger (not its start-up chatter
#: about local TCP transport), so a build log shows what the build did.
KERNEL_ARGUMENTS: list[str] = ["--IPKernelApp.log_level=ERROR"]
OUTPUT_DIR: str = "_book"
#: Environment variables read inside chapter kernels.
ENV_ROOT = "RSA_BOOK_ROOT"
ENV_READS = "RSA_BOOK_READS"
#: Figure labels of the template; each result chapter gets them suffixed with its slug.
TEMPLATE_LABELS: tuple[str, ...] = ("fig-rsa", "fig-rsa-corrected")


class BookBuildError(RuntimeError):
    """A chapter could not be built (names the chapter and the cell)."""


def book_root(root: str | os.PathLike | None = None) -> Path:
    """The book's root folder: ``root``, ``$RSA_BOOK_ROOT`` or the project root."""
    if root is not None:
        return Path(root).resolve()
    env = os.environ.get(ENV_ROOT)
    return Path(env).resolve() if env else PROJECT_ROOT


def chapter_slug(stimulus: str, depth: int) -> str:
    """``natural_scenes``, 175 -> ``natural-scenes-175`` (used in labels and ids)."""
    return f"{stimulus.replace('_', '-')}-{int(depth)}"


def chapter_path(stimulus: str, depth: int) -> str:
    """Relative path of a result chapter: ``chapters/results/<stimulus>_<depth>.ipynb``."""
    return f"{RESULTS_CHAPTER_DIR}/{stimulus}_{int(depth)}.ipynb"


def chapter_list(grid: Sequence[tuple[str, int]]) -> list[str]:
    """The book's chapters for a grid: front matter, one result chapter per cell, the
    robustness and identifiability chapters (always; they note missing tables themselves),
    back matter."""
    return list(FRONT_CHAPTERS) + [chapter_path(s, d) for s, d in grid] + [ROBUSTNESS_CHAPTER,
                                                                          IDENTIFIABILITY_CHAPTER] \
        + list(BACK_CHAPTERS)
