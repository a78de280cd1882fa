"""Data access through the real AllenSDK reader on the synthetic files (no network, no mocks of AllenSDK)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from analysis import allen, config, study
from analysis.synthetic import PRESETS

SMALL = PRESETS["small"]


def _written(small_cache: Path):
    containers = json.loads((small_cache / "experiment_containers.json").read_text())
    experiments = json.loads((small_cache / "ophys_experiments.json").read_text())
    return containers, experiments


# --------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------


def test_selection_counts_match_what_was_written(small_boc, small_cache):
    containers, experiments = _written(small_cache)
    for area in study.AREAS:
        for depth in study.DEFAULT_DEPTHS:
            expected = [
                c["id"] for c in containers
                if c["targeted_structure"]["acronym"] == area and c["imaging_depth"] == depth
                and not c["failed"]
                and c["specimen"]["donor"]["transgenic_lines"][0]["name"] == study.CRE_LINE
            ]
            assert len(expected) == SMALL.containers.get((area, depth), 0)
            if not expected:
                with pytest.raises(ValueError, match="depths with data"):
                    allen.select_experiments(small_boc, "natural_scenes", area, depth)
                continue
            scenes = allen.select_experiments(small_boc, "natural_scenes", area, depth)
            movie = allen.select_experiments(small_boc, "natural_movie_one", area, depth)
            assert [e.container_id for e in scenes] == sorted(expected)
            assert {e.session_type for e in scenes} == {"three_session_B"}
            assert len(movie) == 3 * len(expected)
            assert [e.session_type for e in movie[:3]] == ["three_session_A", "three_session_B", "three_session_C"]
            assert all(e.area == area and e.depth == depth for e in scenes + movie)
            ids = {e["id"] for e in experiments if e["experiment_container_id"] in expected}
            assert {e.experiment_id for e in movie} == ids


def test_selection_skips_failed_and_other_cre_lines(small_boc):
    # the small preset has a failed Cux2 container in VISl 175 and a Rorb container in VISp 175
    assert len(allen.select_experiments(small_boc, "natural_scenes", "VISl", 175)) == 1
    assert len(allen.select_experiments(small_boc, "natural_scenes", "VISp", 175)) == 2
    rorb = allen.select_experiments(small_boc, "natural_scenes", "VISp", 175, cre_line="Rorb-IRES2-Cre")
    assert len(rorb) == 1


def test_selection_is_deterministic(small_boc):
    a = allen.select_experiments(small_boc, "natural_movie_one", "VISp", 175)
    b = allen.select_experiments(small_boc, "natural_movie_one", "VISp", 175)
    assert a == b
    assert a == sorted(a, key=lambda e: (e.container_id, e.session_type, e.experiment_id))


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(stimulus="drifting_gratings", area="VISp", depth=175), "valid stimulus values: natural_scenes"),
        (dict(stimulus="natural_scenes", area="V1", depth=175), "valid area values: VISl, VISp"),
        (dict(stimulus="natural_scenes", area="VISp", depth=175, cre_line="Cux2"), "valid cre line values: Cux2-CreERT2"),
        (dict(stimulus="natural_scenes", area="VISp", depth=375), r"depth 375 um; depths with data .*: 175"),
        (dict(stimulus="natural_scenes", area="VISam", depth=175, cre_line="Sst-IRES-Cre"), "areas with data"),
        (dict(stimulus="natural_scenes", area="VISp", depth="deep"), "depth must be an integer"),
    ],
)
def test_bad_inputs_list_valid_values(small_boc, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        allen.select_experiments(small_boc, **kwargs)


# --------------------------------------------------------------------------------------
# Sessions, tables, templates, metadata
# --------------------------------------------------------------------------------------


def test_scene_table_semantics(small_boc):
    exp = allen.select_experiments(small_boc, "natural_scenes", "VISp", 175)[0]
    s = allen.load_session(small_boc, exp.experiment_id, "natural_scenes")
    t = s.stim_table
    assert list(t.columns) == ["frame", "start", "end"]
    assert len(t) == 119 * 50
    counts = t["frame"].value_counts()
    assert set(counts.index) == set(range(-1, 118)) and (counts == 50).all()
    dur = t["end"] - t["start"]
    assert set(dur.unique()) <= {7, 8}  # 250 ms at ~30 Hz
    assert t["start"].is_monotonic_increasing
    assert t["end"].max() < s.events.shape[1]
    # no grey gap between consecutive presentations of an epoch; three epochs
    gaps = t["start"].values[1:] - t["end"].values[:-1]
    assert (gaps == 0).sum() == len(t) - 3 and (gaps > 15).sum() == 2


def test_movie_table_semantics(small_boc):
    for exp in allen.select_experiments(small_boc, "natural_movie_one", "VISal", 175):
        s = allen.load_session(small_boc, exp.experiment_id, "natural_movie_one")
        t = s.stim_table
        assert list(t.columns) == ["frame", "start", "end", "repeat"]
        assert len(t) == 10 * 900
        assert (t["frame"].values == np.tile(np.arange(900), 10)).all()
        assert (t["repeat"].values == np.repeat(np.arange(10), 900)).all()
        assert ((t["end"] - t["start"]).isin([1, 2])).all()
        assert t["end"].max() < s.events.shape[1]


def test_events_match_cell_ids(small_boc):
    for exp in allen.select_experiments(small_boc, "natural_movie_one", "VISp", 175):
        s = allen.load_session(small_boc, exp.experiment_id, "natural_movie_one")
        assert s.events.ndim == 2 and s.events.shape[0] == len(s.cell_specimen_ids) > 0
        assert s.cell_specimen_ids.dtype == np.int64
        assert len(np.unique(s.cell_specimen_ids)) == len(s.cell_specimen_ids)
        assert np.issubdtype(s.events.dtype, np.floating)
        assert (s.events >= 0).all()
        nonzero = (s.events > 0).mean()
        assert 0.001 < nonzero < 0.1  # sparse, event-like
        assert s.experiment_id == exp.experiment_id


def test_cells_shared_across_sessions_of_a_container(small_boc):
    exps = allen.select_experiments(small_boc, "natural_movie_one", "VISp", 175)[:3]
    ids = [set(allen.load_session(small_boc, e.experiment_id, "natural_movie_one").cell_specimen_ids) for e in exps]
    assert len(ids[0] & ids[1]) > 0.5 * len(ids[0])


def test_templates(small_boc):
    scenes = allen.load_template(small_boc, "natural_scenes")
    movie = allen.load_template(small_boc, "natural_movie_one")
    assert scenes.dtype == np.uint8 and scenes.shape == (118,) + SMALL.scenes_shape[1:]
    assert movie.dtype == np.uint8 and movie.shape == (900,) + SMALL.movie_shape[1:]
    assert scenes.std() > 10 and movie.std() > 10
    other = allen.select_experiments(small_boc, "natural_scenes", "VISam", 175)[0].experiment_id
    with pytest.raises(ValueError, match=str(study.TEMPLATE_EXPERIMENT_ID)):
        allen.load_template(small_boc, "natural_scenes", other)


def test_metadata(small_boc, small_cache):
    data = small_boc.get_ophys_experiment_data(study.TEMPLATE_EXPERIMENT_ID)
    meta = data.get_metadata()
    assert meta["ophys_experiment_id"] == study.TEMPLATE_EXPERIMENT_ID
    assert meta["session_type"] == "three_session_B"
    assert meta["cre_line"].startswith(study.CRE_LINE)
    assert meta["imaging_depth_um"] in study.DEFAULT_DEPTHS
    assert meta["targeted_structure"] in study.AREAS
    assert meta["age_days"] > 0 and meta["pipeline_version"] == "3.0"
    assert "device" in meta
    _, experiments = _written(small_cache)
    rec = next(e for e in experiments if e["id"] == study.TEMPLATE_EXPERIMENT_ID)
    assert meta["experiment_container_id"] == rec["experiment_container_id"]
    assert set(data.list_stimuli()) == {"natural_scenes", "natural_movie_one", "spontaneous"}
    assert len(data.get_stimulus_table("spontaneous")) >= 1
    ts, dff = data.get_dff_traces()
    assert dff.shape == (len(data.get_cell_specimen_ids()), len(ts))


def test_missing_stimulus_in_session(small_boc):
    exp = [e for e in allen.select_experiments(small_boc, "natural_movie_one", "VISp", 175)
           if e.session_type == "three_session_A"][0]
    with pytest.raises(ValueError, match="has no natural_scenes; its stimuli"):
        allen.load_session(small_boc, exp.experiment_id, "natural_scenes")


def test_cache_source(small_boc, small_cache, tmp_path):
    assert allen.cache_source(small_boc) == "synthetic"
    assert allen.cache_source(small_cache) == "synthetic"
    assert allen.cache_source(small_cache / "manifest.json") == "synthetic"
    assert allen.cache_source(tmp_path) == "allen"


# --------------------------------------------------------------------------------------
# Offline behaviour
# --------------------------------------------------------------------------------------


def test_eye_tracking_query_answered_locally(small_cache, no_network):
    boc = allen.open_cache("synthetic", small_cache)
    assert len(boc.get_ophys_experiments(include_failed=True)) == 3 * 8
    assert len(boc.get_ophys_experiments()) == 3 * 7  # the failed container is excluded
    assert allen.select_experiments(boc, "natural_scenes", "VISp", 175)
    assert no_network == []


def test_missing_file_offline_names_it(small_cache, no_network):
    boc = allen.open_cache("synthetic", small_cache)
    with pytest.raises(allen.DataUnavailableError) as err:
        boc.get_ophys_experiment_events(123456789)
    msg = str(err.value)
    expected = small_cache / "ophys_experiment_events" / "123456789_events.npz"
    assert str(expected) in msg and "python -m analysis synth" in msg
    assert err.value.path == str(expected)
    assert not expected.exists()
    assert no_network == []


def test_empty_allen_cache_offline(tmp_path, no_network):
    boc = allen.open_cache("allen", tmp_path / "allen", download=False)
    with pytest.raises(allen.DataUnavailableError) as err:
        boc.get_experiment_containers()
    msg = str(err.value)
    assert "experiment_containers.json" in msg and "--download" in msg and "RSA_DOWNLOAD=1" in msg
    with pytest.raises(allen.DataUnavailableError, match=r"NWB file of ophys experiment 501498760.*501498760\.nwb"):
        boc.get_ophys_experiment_data(501498760)
    with pytest.raises(allen.DataUnavailableError, match="experiment_containers.json"):
        allen.select_experiments(boc, "natural_scenes", "VISp", 175)
    with pytest.raises(allen.DataUnavailableError, match="ophys_experiments.json"):
        boc.get_ophys_experiments()
    assert no_network == []
    assert not list((tmp_path / "allen").rglob("*.json.*"))  # no partial files


def test_partial_allen_cache_offline(small_cache, tmp_path, no_network):
    root = tmp_path / "allen"
    shutil.copytree(small_cache, root)
    (root / "provenance.json").unlink()
    exp = allen.select_experiments(allen.open_cache("allen", root), "natural_scenes", "VISp", 175)[0]
    nwb = root / "ophys_experiment_data" / f"{exp.experiment_id}.nwb"
    nwb.unlink()
    boc = allen.open_cache("allen", root)
    with pytest.raises(allen.DataUnavailableError, match=str(nwb)):
        allen.load_session(boc, exp.experiment_id, "natural_scenes")
    assert no_network == []


def test_rsa_download_env(small_cache, monkeypatch):
    monkeypatch.setenv("RSA_DOWNLOAD", "1")
    monkeypatch.delenv("RSA_OFFLINE", raising=False)  # the test session runs offline
    assert allen.open_cache("allen", small_cache).api.download is True
    assert allen.open_cache("synthetic", small_cache).api.download is False  # never for synthetic
    assert allen.open_cache("allen", small_cache, download=False).api.download is False
    monkeypatch.setenv("RSA_OFFLINE", "1")  # the offline switch forbids every download
    assert allen.open_cache("allen", small_cache).api.download is False
    assert allen.open_cache("allen", small_cache, download=True).api.download is False


def test_missing_synthetic_cache(tmp_path):
    with pytest.raises(allen.DataUnavailableError, match="python -m analysis synth"):
        allen.open_cache("synthetic", tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()
    with pytest.raises(ValueError, match="valid source values"):
        allen.open_cache("imaginary")


def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    import requests

    class FakeResponse:
        headers = {"content-length": "4096"}

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def raise_for_status(self):
            pass

        def iter_content(self, chunk_size):
            yield b"x" * 1024
            raise KeyboardInterrupt

    monkeypatch.setattr(requests, "get", lambda *a, **k: FakeResponse())
    api = allen.local_first_api(tmp_path, "allen", download=True)
    target = tmp_path / "ophys_experiment_data" / "1.nwb"
    with pytest.raises(KeyboardInterrupt):
        api.retrieve_file_over_http("http://example.invalid/1.nwb", str(target))
    assert not target.exists()
    assert list(target.parent.iterdir()) == []

    class FullResponse(FakeResponse):
        def iter_content(self, chunk_size):
            yield b"x" * 4096

    monkeypatch.setattr(requests, "get", lambda *a, **k: FullResponse())
    api.retrieve_file_over_http("http://example.invalid/1.nwb", str(target))
    assert target.read_bytes() == b"x" * 4096
    assert list(target.parent.iterdir()) == [target]


# --------------------------------------------------------------------------------------
# Corrupt data, fingerprints
# --------------------------------------------------------------------------------------


def _copy_cache(small_cache: Path, tmp_path: Path) -> Path:
    root = tmp_path / "synthetic"
    shutil.copytree(small_cache, root)
    return root


def test_nan_events_are_reported(small_cache, tmp_path):
    root = _copy_cache(small_cache, tmp_path)
    boc = allen.open_cache("synthetic", root)
    exp = allen.select_experiments(boc, "natural_scenes", "VISp", 175)[0]
    path = root / "ophys_experiment_events" / f"{exp.experiment_id}_events.npz"
    ev = np.load(path)["ev"].copy()
    ev[2, 10:15] = np.nan
    ev[5, 12] = np.inf
    np.savez_compressed(path, ev=ev)
    with pytest.raises(ValueError, match=rf"experiment {exp.experiment_id}: .*2 of {ev.shape[0]} cells and 5 of"):
        allen.load_session(boc, exp.experiment_id, "natural_scenes")


def test_fingerprint(small_cache, tmp_path, isolated_env):
    root = _copy_cache(small_cache, tmp_path)
    boc = allen.open_cache("synthetic", root)
    eid = study.TEMPLATE_EXPERIMENT_ID
    fp = allen.experiment_fingerprint(boc, eid)
    assert len(fp) == 64 and fp == allen.experiment_fingerprint(boc, eid)
    # no persistent hash memo (it could go stale; see cache.file_digest)
    assert not (isolated_env["RSA_CACHE"] / "file_sha256.json").exists()
    other = allen.select_experiments(boc, "natural_scenes", "VISam", 175)[0].experiment_id
    assert allen.experiment_fingerprint(boc, other) != fp
    # ... and a changed file is re-hashed
    path = root / "ophys_experiment_events" / f"{eid}_events.npz"
    ev = np.load(path)["ev"].copy()
    ev[0, 0] += 1.0
    np.savez_compressed(path, ev=ev)
    assert allen.experiment_fingerprint(boc, eid) != fp


def test_events_file_format(small_cache):
    path = next((small_cache / "ophys_experiment_events").glob("*_events.npz"))
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["ev.npy"]
