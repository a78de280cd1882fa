"""End to end on the small synthetic Brain Observatory: tables, provenance, determinism, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import config, pipeline, study, tables
from analysis.cli import main

pytestmark = [pytest.mark.usefixtures("real_checkpoints"), pytest.mark.slow]  # end to end: needs the ten checkpoints

CKPTS = ("rat1", "ts1")


def movie_cfg(**kw) -> pipeline.RunConfig:
    base = dict(stimulus="natural_movie_one", depth=175, checkpoint_names=CKPTS, n_brain_rdms=20, n_splits=20)
    return pipeline.RunConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def movie_run(small_cache, tmp_path_factory):
    """One movie run with two checkpoints on a fresh cache; returns (csv path, bytes)."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("run1")
    mp.setenv("RSA_CACHE", str(base / "cache"))
    mp.setenv("RSA_RESULTS", str(base / "results"))
    path = pipeline.run(movie_cfg(), progress=False)
    data = path.read_bytes(), path.with_suffix(".json").read_bytes()
    mp.undo()
    return path, data


def test_table_has_one_row_per_area_checkpoint_layer(movie_run):
    path, (csv, _) = movie_run
    assert path.name == "natural_movie_one_175.csv" and path.parent.name == "synthetic"
    t = pd.read_csv(path, keep_default_na=False)
    assert list(t.columns) == list(tables.COLUMNS)
    assert len(t) == len(study.AREAS) * (2 + len(CKPTS) * len(study.LAYERS))
    for area, g in t.groupby("area"):
        assert (g.row_type == "noise_ceiling").sum() == 1 and (g.row_type == "baseline").sum() == 1
        models = g[g.row_type == "model"]
        assert sorted(set(models.checkpoint)) == list(CKPTS)
        assert set(models.layer) == set(study.LAYERS)
        assert set(models.species) == {"rat", "treeshrew"}
    assert (t.n_conditions == 60).all() and (t.source == "synthetic").all()
    assert t.score.between(-1, 1).all()
    ceiling = t[t.row_type == "noise_ceiling"]
    # the synthetic population is noisy: ceilings well above 0 and clearly below 1
    assert ceiling.score.between(0.1, 0.9).all(), ceiling.score.tolist()
    assert (ceiling.score_sd > 0).all()


def test_provenance_records_inputs(movie_run):
    path, (_, prov_bytes) = movie_run
    prov = json.loads(prov_bytes)
    assert prov["source"] == "synthetic" and prov["stimulus"] == "natural_movie_one" and prov["depth"] == 175
    assert set(prov["checkpoints"]) == set(CKPTS)
    assert all(len(h) == 64 for h in prov["checkpoints"].values())
    t = pd.read_csv(path)
    for area, info in prov["areas"].items():
        row = t[(t.area == area) & (t.row_type == "noise_ceiling")].iloc[0]
        assert info["n_neurons"] == row.n_neurons and info["n_experiments"] == row.n_experiments
        # the movie is in sessions A, B and C of every container
        assert info["n_experiments"] == 3 * info["n_containers"]
    assert {"numpy", "torch", "allensdk", "rsatoolbox"} <= set(prov["packages"])
    assert prov["seed"] == study.SEED and prov["git_commit"]


def test_same_seed_gives_byte_identical_tables_from_a_cold_cache(movie_run, tmp_path, monkeypatch):
    _, (csv1, prov1) = movie_run
    monkeypatch.setenv("RSA_CACHE", str(tmp_path / "cache"))  # nothing reused
    monkeypatch.setenv("RSA_RESULTS", str(tmp_path / "results"))
    path = pipeline.run(movie_cfg(), progress=False)
    assert path.read_bytes() == csv1
    assert path.with_suffix(".json").read_bytes() == prov1


def test_a_second_run_with_the_same_key_keeps_the_tables_and_a_change_recomputes(movie_run, tmp_path, monkeypatch):
    _, (csv1, _) = movie_run
    monkeypatch.setenv("RSA_RESULTS", str(tmp_path / "results"))
    path = pipeline.run(movie_cfg(), progress=False)
    stamp = path.stat().st_mtime_ns
    assert json.loads(path.with_suffix(".json").read_text())["run_key"] == pipeline.run_key(movie_cfg())

    def no_compute(*a, **k):
        raise AssertionError("an up-to-date run recomputed its tables")

    with monkeypatch.context() as m:
        m.setattr(pipeline, "compute_tables", no_compute)
        assert pipeline.run(movie_cfg(), progress=False) == path
    assert path.stat().st_mtime_ns == stamp and path.read_bytes() == csv1
    # another setting, a forced run, or a stale key in the provenance: recomputed
    assert pipeline.run_key(movie_cfg(seed=7)) != pipeline.run_key(movie_cfg())
    assert pipeline.run_key(movie_cfg(n_boot=5)) != pipeline.run_key(movie_cfg())
    prov = path.with_suffix(".json")
    prov.write_text(prov.read_text().replace('"run_key": "', '"run_key": "0'))
    pipeline.run(movie_cfg(), progress=False)
    assert path.stat().st_mtime_ns != stamp and path.read_bytes() == csv1


def test_the_science_digest_follows_the_code_not_the_book():
    root = config.PROJECT_ROOT / "analysis"
    files = [f for f in root.rglob("*.py") if f.relative_to(root).parts[0] not in ("report", "bookbuild")]
    assert root / "rdm.py" in files and not any("report" in f.parts for f in files)
    assert len(pipeline.science_digest()) == 64


def test_other_seed_changes_brain_draws_only(movie_run, tmp_path, monkeypatch):
    _, (csv1, _) = movie_run
    monkeypatch.setenv("RSA_RESULTS", str(tmp_path / "results"))
    table, _ = pipeline.compute_table(movie_cfg(seed=7), progress=False)
    first = pd.read_csv(pd.io.common.BytesIO(csv1))
    assert not np.allclose(table.score.to_numpy(), first.score.to_numpy())
    np.testing.assert_allclose(table.score.to_numpy(), first.score.to_numpy(), atol=0.05)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--stimulus", "gratings", "--depth", "175"], "invalid choice: 'gratings'"),
        (["run", "--stimulus", "natural_scenes", "--depth", "175", "--source", "web"], "invalid choice: 'web'"),
        (["run", "--stimulus", "natural_scenes", "--depth", "-5"], "expected a positive integer, got -5"),
        (["run", "--stimulus", "natural_scenes", "--depth", "175", "--areas", "V1"],
         "unknown area 'V1'; valid area values: VISl, VISp, VISpm, VISal, VISam"),
        (["run", "--stimulus", "natural_scenes", "--depth", "175", "--cre-line", "Foo-Cre"],
         "unknown cre line 'Foo-Cre'; valid cre line values: Cux2-CreERT2"),
        (["run", "--stimulus", "natural_movie_one", "--depth", "175", "--movie-bin", "7"],
         "--movie-bin 7 does not divide the 900 frames of natural_movie_one"),
        (["run", "--stimulus", "natural_scenes", "--depth", "175", "--checkpoints", "rat9"], "rat9"),
    ],
)
def test_bad_input_gets_a_clear_message(argv, message, capsys, small_cache):
    with pytest.raises(SystemExit) if "invalid choice" in message or "positive integer" in message else _no_raise():
        rc = main(argv)
        assert rc == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_depth_without_experiments_lists_existing_depths(small_cache):
    # The CLI extends a *synthetic* cache to a requested depth (make paper DEPTHS=...);
    # on a cache without that depth - as a real Allen cache would be - the error lists
    # the depths that exist, and no table is written.
    with pytest.raises(ValueError, match=r"depth 375 um; depths with data for this cre line and area: 175"):
        pipeline.run(pipeline.RunConfig("natural_scenes", 375, checkpoint_names=("rat1",)), progress=False)
    assert not tables.results_path("synthetic", "natural_scenes", 375).exists()


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
