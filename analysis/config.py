"""Paths: where data, checkpoints, caches and results live.

The study's vocabulary (stimuli, areas, depths, layers, defaults) is :mod:`analysis.study`;
the result tables' paths are :mod:`analysis.tables`. This is the only module that knows
where things live on disk. Every other
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

from . import study

#: Root of the project checkout (the folder holding ``pyproject.toml``).
PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent

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
    study.validate_choice("source", source, study.SOURCES)
    return data_root() / source


def manifest_path(source: str) -> Path:
    """Path of the AllenSDK ``manifest.json`` of one data source."""
    return cache_dir(source) / "manifest.json"


def results_root() -> Path:
    """Folder of the tidy result tables (``$RSA_RESULTS`` or ``results/``)."""
    return _env_path("RSA_RESULTS", PROJECT_ROOT / "results")


def results_path(*args, **kwargs) -> Path:
    """Alias of :func:`analysis.tables.results_path` (the module that owns every table's path)."""
    from . import tables

    return tables.results_path(*args, **kwargs)


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


#: The folder settings a command writes into: variable -> its folder (see the module docstring).
FOLDERS = {"RSA_DATA": data_root, "RSA_CACHE": work_cache_dir, "RSA_RESULTS": results_root}


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried: permission bits do not stop root,
    a read-only file system does)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def check_folders(write: bool = True) -> None:
    """Check the folder settings at start: each is a directory (or can be created) and writable.

    Raises ValueError naming the variable, the path and what to do, before any work starts.
    """
    for var, where in FOLDERS.items():
        path = where()
        origin = f"${var}" if os.environ.get(var) else f"the default of {var}"
        if path.exists() and not path.is_dir():
            raise ValueError(f"{origin} = {path} is a file, not a folder; point {var} at a folder")
        if not write:
            continue
        probe = path
        while not probe.exists():  # the first existing ancestor must let us create the rest
            probe = probe.parent
        if not probe.is_dir():
            raise ValueError(f"{origin} = {path} cannot be created: {probe} is a file; point {var} elsewhere")
        if not _writable(probe):
            raise ValueError(f"{origin} = {path} is not writable ({probe} is read-only); point {var} at a "
                             "writable folder")

