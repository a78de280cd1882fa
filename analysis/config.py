"""Paths, constants and validation of user-facing choices.

This is the only module that knows where things live on disk. Every other
module asks it for a path, so that a user can relocate data, checkpoints,
caches and results with environment variables alone:

========================  ===============================================  ==========================
variable                  meaning                                          default
========================  ===============================================  ==========================
``RSA_DATA``              root of the Brain Observatory caches             ``<project>/data``
``RSA_CHECKPOINTS``       folder searched first for ``*.ckpt`` files       (unset)
``RSA_CACHE``             content-addressed cache of expensive results     ``<project>/.cache``
``RSA_RESULTS``           tidy result tables                               ``<project>/results``
========================  ===============================================  ==========================

Inside ``RSA_DATA`` each data source has its own AllenSDK cache folder:
``allen/manifest.json`` (the real Brain Observatory) and
``synthetic/manifest.json`` (the embedded synthetic one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence, TypeVar

#: Root of the project checkout (the folder holding ``pyproject.toml``).
PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------------------
# Vocabulary of the study (defaults are the original study's choices)
# --------------------------------------------------------------------------------------

#: Data sources: the real Allen Brain Observatory, or the embedded synthetic one.
SOURCES: tuple[str, ...] = ("synthetic", "allen")
#: Stimuli analysed, by their AllenSDK names.
STIMULI: tuple[str, ...] = ("natural_scenes", "natural_movie_one")
#: Visual areas, in the order of the original figure panels (row-major, 2 x 3 grid).
AREAS: tuple[str, ...] = ("VISl", "VISp", "VISpm", "VISal", "VISam")
#: Imaging depths (um) of the original study.
DEPTHS: tuple[int, ...] = (175, 275)
#: Cre line of the original study.
CRE_LINE: str = "Cux2-CreERT2"
#: Cre lines of the Visual Coding 2P survey (for validation messages).
CRE_LINES: tuple[str, ...] = (
    "Cux2-CreERT2",
    "Emx1-IRES-Cre",
    "Fezf2-CreER",
    "Nr5a1-Cre",
    "Ntsr1-Cre_GN220",
    "Pvalb-IRES-Cre",
    "Rbp4-Cre_KL100",
    "Rorb-IRES2-Cre",
    "Scnn1a-Tg3-Cre",
    "Slc17a7-IRES2-Cre",
    "Sst-IRES-Cre",
    "Tlx3-Cre_PL56",
    "Vip-IRES-Cre",
)
#: Session types that contain each stimulus (Allen's three-session design).
SESSIONS_WITH_STIMULUS: dict[str, tuple[str, ...]] = {
    "natural_scenes": ("three_session_B",),
    "natural_movie_one": (
        "three_session_A",
        "three_session_B",
        "three_session_C",
        "three_session_C2",
    ),
}
#: Experiment whose stimulus templates the original study used (a session B).
TEMPLATE_EXPERIMENT_ID: int = 501498760
#: Global seed of the analysis (the original used 42).
SEED: int = 42

#: Species of the networks and their colours in the figures (original palette).
SPECIES: tuple[str, ...] = ("rat", "treeshrew")

#: Network layers in figure order. ``s1`` and ``out`` are shared by both pathways.
LAYERS: tuple[str, ...] = (
    ("s1",)
    + tuple(f"p1_res_block{i}" for i in range(1, 7))
    + tuple(f"p2_res_block{i}" for i in range(1, 7))
    + ("out",)
)
#: Name of the pixel baseline "layer".
PIXEL_LAYER: str = "pixel"


def layer_pathway(layer: str) -> str:
    """Pathway a layer belongs to: ``"P1"``, ``"P2"``, ``"shared"`` or ``"pixel"``."""
    if layer == PIXEL_LAYER:
        return "pixel"
    if layer.startswith("p1_"):
        return "P1"
    if layer.startswith("p2_"):
        return "P2"
    if layer in ("s1", "out"):
        return "shared"
    raise ValueError(f"unknown layer {layer!r}; valid layers: {', '.join(LAYERS + (PIXEL_LAYER,))}")


# --------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def data_root() -> Path:
    """Root folder of the Brain Observatory caches (``$RSA_DATA`` or ``data/``)."""
    return _env_path("RSA_DATA", PROJECT_ROOT / "data")


def cache_dir(source: str) -> Path:
    """AllenSDK cache folder of one data source (holds its ``manifest.json``)."""
    validate_choice("source", source, SOURCES)
    return data_root() / source


def manifest_path(source: str) -> Path:
    """Path of the AllenSDK ``manifest.json`` of one data source."""
    return cache_dir(source) / "manifest.json"


def results_root() -> Path:
    """Folder of the tidy result tables (``$RSA_RESULTS`` or ``results/``)."""
    return _env_path("RSA_RESULTS", PROJECT_ROOT / "results")


#: Analysis protocols: the original study's, and the corrected one (see analysis.protocols).
PROTOCOL_NAMES: tuple[str, ...] = ("original", "corrected")


def results_path(source: str, stimulus: str, depth: int, suffix: str = ".csv",
                 protocol: str = "original", kind: str = "scores") -> Path:
    """Path of one result table.

    ``results/<source>/<stimulus>_<depth><suffix>`` for the original protocol's scores;
    other protocols add ``_<protocol>`` and the statistical tests table adds ``_tests``
    to the stem (e.g. ``natural_scenes_175_corrected_tests.csv``).
    """
    validate_choice("source", source, SOURCES)
    validate_choice("stimulus", stimulus, STIMULI)
    validate_choice("protocol", protocol, PROTOCOL_NAMES)
    validate_choice("table kind", kind, ("scores", "tests"))
    stem = f"{stimulus}_{int(depth)}"
    if protocol != "original":
        stem += f"_{protocol}"
    if kind == "tests":
        stem += "_tests"
    return results_root() / source / f"{stem}{suffix}"


def work_cache_dir() -> Path:
    """Folder of the content-addressed cache of expensive results."""
    return _env_path("RSA_CACHE", PROJECT_ROOT / ".cache")


def checkpoint_manifest_path() -> Path:
    """The committed manifest of the ten network checkpoints."""
    return PROJECT_ROOT / "checkpoints" / "manifest.json"


def checkpoint_search_dirs() -> list[Path]:
    """Folders searched for checkpoint files, in order of preference.

    ``$RSA_CHECKPOINTS`` (when set), then the project's ``checkpoints/`` folder
    (git-ignored copies; missing files are downloaded there, see analysis.checkpoints).
    """
    dirs: list[Path] = []
    env = os.environ.get("RSA_CHECKPOINTS")
    if env:
        dirs.append(Path(env).expanduser().resolve())
    dirs.append(PROJECT_ROOT / "checkpoints")
    return dirs


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------

T = TypeVar("T")


def validate_choice(name: str, value: T, valid: Iterable[T]) -> T:
    """Return ``value`` if it is one of ``valid``; else raise a ValueError listing them.

    >>> validate_choice("stimulus", "natural_scenes", STIMULI)
    'natural_scenes'
    """
    valid = tuple(valid)
    if value not in valid:
        listed = ", ".join(str(v) for v in valid)
        raise ValueError(f"unknown {name} {value!r}; valid {name} values: {listed}")
    return value


def validate_choices(name: str, values: Sequence[T], valid: Iterable[T]) -> list[T]:
    """Validate every element of ``values`` with :func:`validate_choice`."""
    valid = tuple(valid)
    return [validate_choice(name, v, valid) for v in values]
