"""Quarto's side of the book: the active profile's configuration, and ``quarto render``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from analysis.bookbuild.layout import (
    ENV_ROOT, OUTPUT_DIR, PROFILE, PROFILE_FILE, PROJECT_ROOT, BookBuildError, book_root,
)


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return over


def load_book_config(root: str | os.PathLike | None = None) -> dict[str, Any]:
    """``_quarto.yml`` with the active profile's file merged over it (the merge Quarto does)."""
    import yaml

    root = book_root(root)
    cfg = yaml.safe_load((root / "_quarto.yml").read_text(encoding="utf-8")) or {}
    profiles = os.environ.get("QUARTO_PROFILE") or (cfg.get("profile", {}) or {}).get("default", "")
    if isinstance(profiles, str):
        profiles = [p.strip() for p in profiles.split(",") if p.strip()]
    for prof in profiles:
        p = root / f"_quarto-{prof}.yml"
        if p.is_file():
            cfg = _merge(cfg, yaml.safe_load(p.read_text(encoding="utf-8")) or {})
    return cfg


def book_chapters(cfg: dict[str, Any]) -> list[str]:
    """Flat list of chapter files (parts flattened)."""
    out: list[str] = []

    def walk(items):
        for it in items or []:
            if isinstance(it, str):
                out.append(it)
            elif isinstance(it, dict):
                if "href" in it:
                    out.append(it["href"])
                if "file" in it:
                    out.append(it["file"])
                walk(it.get("chapters"))
    walk((cfg.get("book") or {}).get("chapters"))
    if not out:
        raise BookBuildError(f"the book lists no chapters: run make_chapters() to write {PROFILE_FILE}")
    return out


#: Environment variable naming a ``quarto`` executable (else the one on PATH).
ENV_QUARTO = "RSA_QUARTO"


def quarto_executable() -> str | None:
    """``$RSA_QUARTO`` (when it names an executable), else the ``quarto`` on PATH, or None."""
    env = os.environ.get(ENV_QUARTO)
    if env:
        found = shutil.which(env)
        if not found:
            raise BookBuildError(f"{ENV_QUARTO}={env!r} is not an executable quarto")
        return found
    return shutil.which("quarto")


def quarto_environment(root: Path) -> dict[str, str]:
    """The environment of ``quarto render``: this Python runs the code cells
    (``QUARTO_PYTHON`` = ``sys.executable``), the kernels import this ``analysis`` and
    read the book root."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["QUARTO_PYTHON"] = sys.executable
    env[ENV_ROOT] = str(root)
    return env


def quarto_render(root: Path, quarto: str) -> dict[str, Any]:
    """``quarto render --profile grid`` in ``root``; returns ``{"pages", "pdf", "seconds"}``."""
    t0 = time.time()
    env = quarto_environment(root)
    proc = subprocess.run([quarto, "render", "--profile", PROFILE], cwd=root, env=env)
    if proc.returncode:
        raise BookBuildError(f"quarto render failed (exit {proc.returncode})")
    return {"pages": sorted((root / OUTPUT_DIR).glob("**/*.html")),
            "pdf": next(iter(sorted((root / OUTPUT_DIR).glob("*.pdf"))), None),
            "seconds": time.time() - t0}
