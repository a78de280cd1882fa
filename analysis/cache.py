"""Content-addressed on-disk cache of expensive intermediate results.

Why hand-written rather than ``joblib.Memory``: joblib keys an entry on the
function's source and arguments, but cannot know that an argument such as a
file path stands for *content* (a checkpoint, an NWB file), and it never checks
that an entry on disk is intact. Here the caller states the key explicitly
(content hashes, parameters and a per-namespace code version), every entry
carries a SHA-256 of its payload, and an entry that is truncated, corrupt or
unreadable is discarded and recomputed, never used.

Entries are dictionaries of numpy arrays stored as ``.npz`` files under
``<RSA_CACHE>/<namespace>/<key[:2]>/<key>.npz`` and written atomically
(temporary file, then rename), so an interrupted run leaves no partial entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from . import config, fileio

log = logging.getLogger(__name__)

#: Version of the code behind each namespace. Bump one when the computation it
#: caches changes, so that stale entries are no longer found.
CODE_VERSIONS: dict[str, str] = {
    "features": "1",
    "responses": "1",
    "brain_rdms": "3",  # 3: corrected protocol keeps one RDM per container (score = mean over them)
    "model_rdms": "2",  # 2: BLAS correlation RDMs (compare.correlation_rdms)
    "stimuli": "1",
    "scores": "1",  # tau-a of every model RDM with every brain RDM of an area
}

_CHECKSUM_KEY = "__sha256__"


def hash_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def hash_array(array: np.ndarray) -> str:
    """SHA-256 hex digest of an array's dtype, shape and bytes."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def make_key(namespace: str, parts: Mapping[str, Any]) -> str:
    """Cache key from a namespace, its code version and JSON-serialisable parts."""
    if namespace not in CODE_VERSIONS:
        raise ValueError(f"unknown cache namespace {namespace!r}; valid: {', '.join(CODE_VERSIONS)}")
    payload = json.dumps(
        {"namespace": namespace, "code_version": CODE_VERSIONS[namespace], "parts": parts},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def entry_path(namespace: str, key: str) -> Path:
    """Where the entry of ``key`` lives."""
    return config.work_cache_dir() / namespace / key[:2] / f"{key}.npz"


def _payload_digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(hash_array(arrays[name]).encode())
    return h.hexdigest()


def save(namespace: str, key: str, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write an entry atomically, with a checksum of its payload."""
    path = entry_path(namespace, key)
    data = {k: np.asarray(v) for k, v in arrays.items()}
    data[_CHECKSUM_KEY] = np.array(_payload_digest(data))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # an open file: np.savez would append ".npz" to a name
            np.savez(f, **data)

    return fileio.write_atomic(path, write)


def load(namespace: str, key: str) -> dict[str, np.ndarray] | None:
    """Read an entry; ``None`` when absent or damaged (a damaged entry is deleted)."""
    path = entry_path(namespace, key)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        stored = str(data.pop(_CHECKSUM_KEY))
        if stored != _payload_digest(data):
            raise ValueError("checksum mismatch")
    except Exception as exc:  # noqa: BLE001 - any failure to read means "recompute"
        log.warning("discarding damaged cache entry %s (%s)", path, exc)
        path.unlink(missing_ok=True)
        return None
    return data


def get_or_compute(
    namespace: str,
    parts: Mapping[str, Any],
    compute: Callable[[], Mapping[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """Return the cached entry for ``parts``, computing and storing it when needed.

    Parameters
    ----------
    namespace:
        One of :data:`CODE_VERSIONS`.
    parts:
        Everything the result depends on: content hashes of inputs, parameters.
    compute:
        Zero-argument function returning a dict of numpy arrays.
    """
    key = make_key(namespace, parts)
    hit = load(namespace, key)
    if hit is not None:
        return hit
    result = {k: np.asarray(v) for k, v in compute().items()}
    save(namespace, key, result)
    return result


_DIGEST_MEMO = "file_sha256.json"


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, memoised per (resolved path, size, mtime_ns).

    The memo lives in ``<RSA_CACHE>/file_sha256.json``, so large inputs (NWB files,
    checkpoints) are hashed once across processes; a file whose size or modification
    time changed is hashed again. An unwritable cache only costs re-hashing.
    """
    path = Path(path).resolve()
    st = path.stat()
    key, stamp = str(path), [st.st_size, st.st_mtime_ns]
    memo_path = config.work_cache_dir() / _DIGEST_MEMO

    def read_memo() -> dict:
        try:
            memo = json.loads(memo_path.read_text())
            return memo if isinstance(memo, dict) else {}
        except (OSError, ValueError):
            return {}

    hit = read_memo().get(key)
    if isinstance(hit, dict) and hit.get("stamp") == stamp and isinstance(hit.get("sha256"), str):
        return hit["sha256"]
    digest = hash_file(path)
    try:  # re-read just before writing so that concurrent processes lose little
        memo = read_memo()
        memo[key] = {"stamp": stamp, "sha256": digest}
        fileio.write_text_atomic(memo_path, json.dumps(memo, indent=1, sort_keys=True))
    except OSError:
        pass
    return digest
