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

import collections
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from . import config, fileio

log = logging.getLogger(__name__)

#: Version of the code behind each namespace. Bump one when the computation it
#: caches changes, so that stale entries are no longer found.
CODE_VERSIONS: dict[str, str] = {
    "features": "1",
    "responses": "2",  # 2: per-session tensors; the original sums scene events in float32
    "brain_rdms": "4",  # 4: every ceiling estimator stored; the original's is the row-0 tau-a
    "model_rdms": "2",  # 2: BLAS correlation RDMs (compare.correlation_rdms)
    "stimuli": "2",  # 2: torch antialiased bilinear resize (the original's), not scikit-image
    "scores": "1",  # tau-a of every model RDM with every brain RDM of an area
}

_CHECKSUM_KEY = "__sha256__"


def hash_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes (:func:`analysis.fileio.sha256_file`)."""
    return fileio.sha256_file(path, chunk)


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
        COUNTS[(namespace, "cached")] += 1
        return hit
    result = {k: np.asarray(v) for k, v in compute().items()}
    save(namespace, key, result)
    COUNTS[(namespace, "computed")] += 1
    return result


#: Entries served from the cache and computed in this process, by ``(namespace, "cached" |
#: "computed")`` (for the summary at the end of ``make paper``; workers count their own).
COUNTS: "collections.Counter[tuple[str, str]]" = collections.Counter()


def summary() -> str:
    """One line per namespace used in this process: entries computed and served from the cache."""
    names = sorted({n for n, _ in COUNTS})
    return "; ".join(f"{n} {COUNTS[(n, 'computed')]} computed, {COUNTS[(n, 'cached')]} cached" for n in names) \
        or "no cache entries used"


#: In-process memo of :func:`file_digest`: resolved path -> (stat identity, sha256).
_DIGEST_MEMO: dict[str, tuple[tuple[int, ...], str]] = {}


def file_identity(st: os.stat_result) -> tuple[int, ...]:
    """``(st_dev, st_ino, size, mtime_ns, ctime_ns)``: what an in-process memo of a file's check or hash
    requires unchanged (why ctime makes this sound: :func:`file_digest`)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (NWB and events files: the fingerprints of the responses cache).

    Why no persistent memo. The former one, in ``<RSA_CACHE>/file_sha256.json`` keyed on
    ``(path, size, mtime_ns)``, could go stale: a file edited in place with its size kept
    and its mtime restored (``touch -r``, ``os.utime``) kept its old hash, so the caches and
    the provenance recorded content that was no longer on disk. Hashing is cheap next to
    what the hash guards (measured: SHA-256 runs at ~400 MB/s on a busy 2-core machine; a
    synthetic NWB or events file is ~0.6 MB, ~2 ms; a real NWB file of ~0.5 GB takes about
    1.3 s, once per process), so every process hashes the bytes again.

    Within one process a file is hashed once while its identity ``(st_dev, st_ino, size,
    mtime_ns, ctime_ns)`` is unchanged. ``ctime`` is what makes this sound: the kernel sets
    it to the current time on every write, rename, chmod or ``utime`` call and offers no
    call to set it back (``touch -r`` and ``os.utime`` set atime and mtime only), so an edit
    cannot keep all five fields short of changing the system clock (root). Replacing the
    file changes the inode or ctime as well. Checkpoints do not use this: they are verified
    from the very bytes that are parsed (:func:`analysis.checkpoints.read_verified`).
    """
    path = Path(path).resolve()
    ident = file_identity(path.stat())
    hit = _DIGEST_MEMO.get(str(path))
    if hit is not None and hit[0] == ident:
        return hit[1]
    digest = hash_file(path)
    if file_identity(path.stat()) == ident:  # unchanged while it was read: safe to remember
        _DIGEST_MEMO[str(path)] = (ident, digest)
    return digest
