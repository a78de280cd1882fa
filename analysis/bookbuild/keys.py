"""Cache keys of executed chapters: hashes, the environment key, recorded reads.

An executed chapter is reused while its source, its parameters, the environment
(:func:`environment_key`: Python, package versions, the source of the code the
chapters call) and every file it read are unchanged. Reads are recorded by the
chapter kernels into the file named by :data:`~analysis.bookbuild.layout.ENV_READS`
(see :func:`kernel_env`); a file looked for but absent is recorded too, so the
chapter is re-executed as soon as it appears.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from analysis.bookbuild.layout import ENV_READS, ENV_ROOT, PROJECT_ROOT
from analysis.fileio import sha256_file

_ENV_PACKAGES = ("pandas", "numpy", "matplotlib", "plotly", "seaborn", "nbclient", "papermill",
                 "ipykernel", "jupytext")
#: The package's own folder: its modules are part of every key (they finish and convert chapters).
_HERE = Path(__file__).resolve().parent


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def file_sha(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes (:func:`analysis.fileio.sha256_file`)."""
    return sha256_file(path)


def default_code() -> list[Path]:
    """Every module of the ``analysis`` package (the conservative default of :func:`environment_key`)."""
    return sorted(_HERE.parent.rglob("*.py"))


def environment_key(code: Sequence[Path] | None = None) -> str:
    """Hash of what executed chapters depend on besides their source and data.

    Package versions, Python, the source of ``code`` (the modules chapters call;
    ``None``: every module of the package) and of this build package.
    """
    parts = [sys.version]
    for name in _ENV_PACKAGES:
        try:
            parts.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name}==none")
    files = list(default_code() if code is None else code) + sorted(_HERE.rglob("*.py"))
    for p in files:
        p = Path(p)
        parts.append(file_sha(p) if p.is_file() else "none")
    return sha("\n".join(parts))


def reads_hashes(paths: Iterable[str]) -> dict[str, str]:
    """Hash of every file read; ``""`` for a file looked for but absent (optional tables)."""
    return {p: (file_sha(Path(p)) if Path(p).is_file() else "") for p in sorted(set(paths))}


def reads_unchanged(reads: dict[str, str]) -> bool:
    for p, digest in reads.items():
        exists = Path(p).is_file()
        if digest == "":
            if exists:
                return False
        elif not exists or file_sha(Path(p)) != digest:
            return False
    return True


@contextmanager
def kernel_env(root: Path) -> Iterator[Path]:
    """Environment for chapter kernels; yields the file in which reads are recorded."""
    fd, log = tempfile.mkstemp(prefix="rsa-book-reads-", suffix=".txt")
    os.close(fd)
    saved = {k: os.environ.get(k) for k in (ENV_ROOT, ENV_READS, "PYTHONPATH", "MPLBACKEND")}
    try:
        os.environ[ENV_ROOT] = str(root)
        os.environ[ENV_READS] = log
        os.environ["MPLBACKEND"] = "Agg"
        pp = [str(PROJECT_ROOT)] + ([saved["PYTHONPATH"]] if saved["PYTHONPATH"] else [])
        os.environ["PYTHONPATH"] = os.pathsep.join(pp)
        yield Path(log)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        Path(log).unlink(missing_ok=True)
