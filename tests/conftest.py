"""Shared pytest fixtures.

* Every test session runs with ``RSA_CACHE``, ``RSA_RESULTS`` and ``RSA_DATA`` pointing
  into a session temporary folder (autouse), so no test touches the project's
  ``.cache/``, ``results/`` or ``data/``.
* ``small_cache``: the ``small`` synthetic Brain Observatory, built once per session
  at ``config.cache_dir("synthetic")`` (i.e. ``$RSA_DATA/synthetic``); returns its root.
* ``small_boc``: that cache opened with :func:`analysis.allen.open_cache`.
* ``isolated_env``: per-test fresh ``RSA_CACHE``/``RSA_RESULTS`` folders (returns them).
* ``no_network``: makes any socket connection attempt fail loudly.
"""

from __future__ import annotations

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
        yield paths


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
