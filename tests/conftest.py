"""Shared pytest fixtures.

* Every test session runs with ``RSA_CACHE``, ``RSA_RESULTS`` and ``RSA_DATA`` pointing
  into a session temporary folder (autouse), so no test touches the project's
  ``.cache/``, ``results/`` or ``data/``.
* ``small_cache``: the ``small`` synthetic Brain Observatory, built once per session
  at ``config.cache_dir("synthetic")`` (i.e. ``$RSA_DATA/synthetic``); returns its root.
* ``small_boc``: that cache opened with :func:`analysis.allen.open_cache`.
* ``isolated_env``: per-test fresh ``RSA_CACHE``/``RSA_RESULTS`` folders (returns them).
* ``no_network``: makes any socket connection attempt fail loudly.
* Every session runs offline (``RSA_OFFLINE=1``): no test downloads anything unless it
  unsets the switch itself (the download tests serve files from 127.0.0.1).
* ``real_checkpoints``: the ten verified network checkpoints, found through the normal
  lookup (``RSA_CHECKPOINTS``, then the project's ``checkpoints/``; ``.ci/run`` exports
  RSA_CHECKPOINTS where the CI machine provides the files), as ``{name: path}``; tests that
  use it skip, saying how to provide the files, when they cannot all be found.
  :func:`checkpoint_paths` is the same lookup for ``skipif`` markers.
"""

from __future__ import annotations

import functools
import socket
from pathlib import Path

import pytest


def pytest_configure(config):
    # AllenSDK imports pkg_resources (deprecated); not our warning to fix.
    config.addinivalue_line("filterwarnings", "ignore:pkg_resources is deprecated:UserWarning")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pkg_resources")


@pytest.fixture(scope="session", autouse=True)
def session_env(tmp_path_factory) -> dict[str, Path]:
    """Session-wide RSA_CACHE / RSA_RESULTS / RSA_DATA in a temporary folder."""
    base = tmp_path_factory.mktemp("rsa_env")
    paths = {"RSA_CACHE": base / "cache", "RSA_RESULTS": base / "results", "RSA_DATA": base / "data"}
    with pytest.MonkeyPatch.context() as mp:
        for name, path in paths.items():
            path.mkdir(parents=True, exist_ok=True)
            mp.setenv(name, str(path))
        mp.delenv("RSA_DOWNLOAD", raising=False)
        mp.delenv("RSA_CHECKPOINT_BASE_URL", raising=False)
        mp.setenv("RSA_OFFLINE", "1")
        yield paths


NO_CHECKPOINTS = ("the ten network checkpoints were not found (set RSA_CHECKPOINTS to the folder "
                  "holding them, or copy them into checkpoints/; .ci/run does this on CI)")


@functools.lru_cache(maxsize=1)
def _checkpoint_paths() -> tuple[tuple[str, Path], ...] | None:
    from analysis import checkpoints as C

    try:
        return tuple((e.name, C.locate(e, download=False)) for e in C.load_manifest())
    except C.CheckpointError:
        return None


def checkpoint_paths() -> dict[str, Path] | None:
    """``{file name: verified path}`` of the ten checkpoints (normal lookup, no download), or None."""
    found = _checkpoint_paths()
    return None if found is None else dict(found)


@pytest.fixture(scope="session")
def real_checkpoints() -> dict[str, Path]:
    """The ten verified checkpoints ``{name: path}``; skips the test when they cannot be found."""
    found = checkpoint_paths()
    if found is None:
        pytest.skip(NO_CHECKPOINTS)
    return found


@pytest.fixture()
def isolated_env(tmp_path, monkeypatch) -> dict[str, Path]:
    """Fresh RSA_CACHE and RSA_RESULTS folders for one test."""
    paths = {"RSA_CACHE": tmp_path / "cache", "RSA_RESULTS": tmp_path / "results"}
    for name, path in paths.items():
        path.mkdir()
        monkeypatch.setenv(name, str(path))
    return paths


@pytest.fixture(scope="session")
def small_cache(session_env) -> Path:
    """Root of the ``small`` synthetic Brain Observatory (built once per test session)."""
    from analysis import config
    from analysis.synthetic import build_synthetic_cache

    root = config.cache_dir("synthetic")
    if not (root / "manifest.json").exists():
        build_synthetic_cache(root, preset="small", seed=0, progress=False)
    return root


@pytest.fixture(scope="session")
def small_boc(small_cache):
    from analysis import allen

    return allen.open_cache("synthetic", small_cache)


@pytest.fixture()
def no_network(monkeypatch):
    """Fail any attempt to open a network connection (records the attempts)."""
    attempts: list = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"network connection attempted to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))
    return attempts
