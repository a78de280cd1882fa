"""analysis.parallel: serial, local joblib workers and a local Dask cluster give identical results."""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest

from analysis import parallel, pipeline

pytestmark = [pytest.mark.usefixtures("real_checkpoints"), pytest.mark.slow]  # end to end: needs the ten checkpoints

CKPTS = ("rat1",)
AREAS = ("VISp", "VISam")


def _square_plus_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _nested(x: int) -> list[int]:
    # a task that itself maps: runs serially inside the task
    return parallel.map_tasks(functools.partial(pow, x), [1, 2, 3], jobs=4)


def test_resolve_jobs_and_address(monkeypatch):
    assert parallel.resolve_jobs(None) == 1 and parallel.resolve_jobs(3) == 3
    assert parallel.resolve_jobs(-1) >= 1
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match="jobs must be"):
            parallel.resolve_jobs(bad)
    monkeypatch.delenv(parallel.DASK_ENV, raising=False)
    assert parallel.dask_address() is None
    monkeypatch.setenv(parallel.DASK_ENV, "tcp://127.0.0.1:1")
    assert parallel.dask_address() == "tcp://127.0.0.1:1"
    assert parallel.dask_address("tcp://10.0.0.1:8786") == "tcp://10.0.0.1:8786"
    with pytest.raises(ValueError, match="tcp://host:8786"):
        parallel.dask_address("localhost")


def test_local_jobs_default_is_every_core_that_free_memory_allows(monkeypatch):
    cores = parallel.resolve_jobs(-1)
    assert parallel.local_jobs(3, 10**15) == 3 and parallel.local_jobs(-1, 10**15) == cores
    monkeypatch.setattr(parallel, "available_memory", lambda: 5 * 2**30)
    assert parallel.local_jobs(None, 2 * 2**30) == min(cores, 2)
    assert parallel.local_jobs(None, 8 * 2**30) == 1  # never fewer than one
    assert parallel.local_jobs(None, 1) == cores
    monkeypatch.setattr(parallel, "available_memory", lambda: None)  # the OS does not say
    assert parallel.local_jobs(None, 8 * 2**30) == cores


def test_serial_map_keeps_order_and_runs_in_process(monkeypatch):
    monkeypatch.delenv(parallel.DASK_ENV, raising=False)
    out = parallel.map_tasks(_square_plus_pid, range(7))
    assert [v for v, _ in out] == [x * x for x in range(7)]
    assert {pid for _, pid in out} == {os.getpid()}
    assert parallel.map_tasks(_nested, [2, 3]) == [[2, 4, 8], [3, 9, 27]]
    assert parallel.chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]


def test_local_workers_keep_order(monkeypatch):
    monkeypatch.delenv(parallel.DASK_ENV, raising=False)
    out = parallel.map_tasks(_square_plus_pid, range(8), jobs=2)
    assert [v for v, _ in out] == [x * x for x in range(8)]
    assert os.getpid() not in {pid for _, pid in out}  # really ran in worker processes
    # nested maps inside workers run serially and still give the right answer
    assert parallel.map_tasks(_nested, [2, 3], jobs=2) == [[2, 4, 8], [3, 9, 27]]


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", scheduler_port=0,
                                       host="127.0.0.1", dashboard_address=None)
    try:
        yield cluster
    finally:
        cluster.close()


def _cfg() -> pipeline.RunConfig:
    return pipeline.RunConfig(stimulus="natural_scenes", depth=175, areas=AREAS, checkpoint_names=CKPTS,
                              n_brain_rdms=4, n_splits=4)


def test_dask_run_is_byte_identical_to_serial(small_cache, dask_cluster, tmp_path, monkeypatch):
    """Each run on its own empty cache, so the Dask run really computes everything."""
    monkeypatch.delenv(parallel.DASK_ENV, raising=False)
    tables = {}
    for label, kwargs in (("serial", {}), ("dask", {"dask": dask_cluster.scheduler_address})):
        monkeypatch.setenv("RSA_CACHE", str(tmp_path / label / "cache"))
        table, prov = pipeline.compute_table(_cfg(), progress=False, **kwargs)
        prov.pop("git_commit")
        tables[label] = (table.to_csv(index=False, float_format="%.12g").encode(), prov)
    assert tables["dask"][0] == tables["serial"][0]
    assert tables["dask"][1] == tables["serial"][1]
    # the Dask run computed its own entries (features, model and brain RDMs) on the workers
    assert any((tmp_path / "dask" / "cache" / "model_rdms").rglob("*.npz"))
    assert any((tmp_path / "dask" / "cache" / "brain_rdms").rglob("*.npz"))
    # the tasks ran on the cluster's workers
    from distributed import Client

    with Client(dask_cluster.scheduler_address, set_as_default=False) as client:
        counts = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.task_prefixes))
    assert counts > 0


def test_dask_address_from_environment(small_cache, dask_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv(parallel.DASK_ENV, dask_cluster.scheduler_address)
    assert parallel.active() == (1, dask_cluster.scheduler_address)
    out = parallel.map_tasks(np.square, [np.arange(3), np.arange(4)])
    assert [o.tolist() for o in out] == [[0, 1, 4], [0, 1, 4, 9]]
