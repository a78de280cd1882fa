"""Running independent tasks in parallel: local cores through joblib, or a Dask cluster.

One small API for the whole analysis::

    results = map_tasks(fn, items, jobs=4)                          # local processes (loky)
    results = map_tasks(fn, items, dask="tcp://scheduler:8786")     # a Dask cluster

    with parallel_backend(jobs=1, dask="tcp://scheduler:8786"):   # or RSA_DASK_SCHEDULER
        table, prov = pipeline.compute_table(cfg)                 # every map_tasks inside

:func:`map_tasks` returns ``[fn(x) for x in items]`` in the order of ``items``, whatever
order the work finished in; the analysis derives every random generator from the seed and
the task's labels (:func:`analysis.rdm.derive_rng`), so results are identical (bit for
bit) to a serial run. With ``jobs=1`` and no Dask address it *is* that serial loop (no
worker processes, no pickling).

Backends:

* ``jobs > 1`` (``-1`` = all cores): joblib's default ``loky`` backend (separate worker
  processes; ``fn`` and the items must pickle). joblib limits BLAS/torch/numba threads in
  each worker so that ``jobs`` workers share the cores instead of oversubscribing them.
* a Dask scheduler address (argument ``dask``, else ``$RSA_DASK_SCHEDULER``): a
  ``distributed.Client`` is connected and the same joblib calls run through joblib's
  ``dask`` backend on the cluster's workers. The workers must see the same
  ``RSA_DATA``, ``RSA_CACHE`` and checkpoint folders (a shared file system) and have
  this package installed; results come back to the client.

Nested calls (a task that itself calls :func:`map_tasks`) run serially inside the task.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import joblib

# loky replaces a worker whose memory grew (its leak check) once the worker's task is done, and
# says so with this warning when other tasks are queued; no task is lost or rerun (results come
# back in input order either way), so in a user's log it only alarms. Narrowly silenced.
warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given to the executor",
                        category=UserWarning, module=r"joblib\.externals\.loky")

__all__ = ["DASK_ENV", "resolve_jobs", "local_jobs", "available_memory", "dask_address", "parallel_backend", "map_tasks", "active"]

#: Environment variable holding a Dask scheduler address (``tcp://host:8786``).
DASK_ENV = "RSA_DASK_SCHEDULER"

T = TypeVar("T")
R = TypeVar("R")

# The backend set by the innermost parallel_backend() of this process: (jobs, dask address).
_ACTIVE: list[tuple[int, str | None]] = []
# Set inside a task run by map_tasks in this thread (nested calls run serially).
_LOCAL = threading.local()


def _in_task() -> bool:
    return getattr(_LOCAL, "depth", 0) > 0


def resolve_jobs(jobs: int | None) -> int:
    """Number of local workers: ``None`` or 1 -> 1, ``-1`` -> all cores, ``n > 1`` -> n."""
    if jobs is None:
        return 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be a positive integer or -1 (all cores); got {jobs!r}")
    if jobs == -1:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    return jobs


def available_memory() -> int | None:
    """Bytes of memory available now (``SC_AVPHYS_PAGES``), or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def local_jobs(jobs: int | None, worker_bytes: int) -> int:
    """Local workers for a stage whose workers each need up to ``worker_bytes``.

    ``jobs`` when given (``-1`` = all cores, as :func:`resolve_jobs`); None: every core, but
    at most one worker per ``worker_bytes`` of the memory available now (at least one).
    Results never depend on the number (every random draw comes from the task's labels).
    """
    if jobs is not None:
        return resolve_jobs(jobs)
    n = resolve_jobs(-1)
    avail = available_memory()
    return n if avail is None else max(1, min(n, avail // int(worker_bytes)))


def dask_address(address: str | None = None) -> str | None:
    """The Dask scheduler to use: ``address``, else ``$RSA_DASK_SCHEDULER``, else ``None``."""
    address = address or os.environ.get(DASK_ENV) or None
    if address is not None and "://" not in address:
        raise ValueError(f"a Dask scheduler address looks like tcp://host:8786; got {address!r}")
    return address


def active() -> tuple[int, str | None]:
    """The ``(jobs, dask address)`` that :func:`map_tasks` uses when given none."""
    if _in_task():
        return 1, None
    return _ACTIVE[-1] if _ACTIVE else (1, dask_address())


@contextlib.contextmanager
def parallel_backend(jobs: int | None = 1, dask: str | None = None) -> Iterator[tuple[int, str | None]]:
    """Make :func:`map_tasks` calls inside the block use ``jobs`` local workers or a Dask cluster.

    ``dask`` (or ``$RSA_DASK_SCHEDULER``) connects a ``distributed.Client`` for the block and
    closes it after (the cluster itself is left running). Yields ``(jobs, address)``.
    """
    n = resolve_jobs(jobs)
    address = dask_address(dask)
    client = None
    if address is not None:
        from distributed import Client

        client = Client(address, set_as_default=False)
    try:
        _ACTIVE.append((n, address))
        try:
            if client is not None:
                with client.as_current(), joblib.parallel_config(backend="dask", n_jobs=-1):
                    yield n, address
            else:
                yield n, address
        finally:
            _ACTIVE.pop()
    finally:
        if client is not None:
            client.close()


def _run_task(fn: Callable[[T], R], item: T) -> R:
    _LOCAL.depth = getattr(_LOCAL, "depth", 0) + 1
    try:
        return fn(item)
    finally:
        _LOCAL.depth -= 1


def map_tasks(
    fn: Callable[[T], R],
    items: Iterable[T],
    jobs: int | None = None,
    dask: str | None = None,
) -> list[R]:
    """``[fn(x) for x in items]``, run in parallel when asked; results in input order.

    Parameters
    ----------
    fn:
        A picklable function of one argument (a module-level function or a
        ``functools.partial`` of one) when run in parallel.
    items:
        The independent inputs.
    jobs:
        Local workers (``-1`` = all cores). Default: the enclosing
        :func:`parallel_backend`'s, else 1.
    dask:
        Dask scheduler address; default the enclosing :func:`parallel_backend`'s, else
        ``$RSA_DASK_SCHEDULER``. When given, the work runs on that cluster.
    """
    items = list(items)
    default_jobs, default_dask = active()
    if _in_task():  # nested: already inside a parallel task
        return [fn(x) for x in items]
    n = resolve_jobs(jobs) if jobs is not None else default_jobs
    address = dask_address(dask) if dask is not None else default_dask
    if address is None and (n == 1 or len(items) <= 1):
        return [fn(x) for x in items]
    if address is not None and (not _ACTIVE or _ACTIVE[-1][1] != address):
        with parallel_backend(n, address):
            return map_tasks(fn, items)
    if address is not None:  # inside parallel_backend(dask=...): joblib's dask backend is active
        return list(joblib.Parallel()(joblib.delayed(_run_task)(fn, x) for x in items))
    return list(joblib.Parallel(n_jobs=min(n, len(items)), backend="loky")(
        joblib.delayed(_run_task)(fn, x) for x in items))


def chunks(items: Sequence[T], n: int) -> list[list[T]]:
    """Split ``items`` into ``n`` nearly equal consecutive chunks (no empty ones)."""
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        stop = start + size + (i < extra)
        out.append(list(items[start:stop]))
        start = stop
    return out
