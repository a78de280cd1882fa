"""The content-addressed cache, configuration and the pinned environment."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
import yaml

from analysis import cache, config, study, tables


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RSA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_hit_returns_stored_arrays_without_recomputing(tmp_cache):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(5.0), "y": np.eye(2)}

    a = cache.get_or_compute("features", {"k": 1}, compute)
    b = cache.get_or_compute("features", {"k": 1}, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(a["x"], b["x"])
    np.testing.assert_array_equal(b["y"], np.eye(2))


def test_changed_parameter_recomputes(tmp_cache):
    calls = []
    for k in (1, 2, 1):
        cache.get_or_compute("features", {"k": k}, lambda: calls.append(k) or {"x": np.array([k])})
    assert calls == [1, 2]


def test_code_version_is_part_of_the_key(monkeypatch):
    before = cache.make_key("features", {"k": 1})
    monkeypatch.setitem(cache.CODE_VERSIONS, "features", "999")
    assert cache.make_key("features", {"k": 1}) != before


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_entry_is_detected_and_recomputed(tmp_cache, damage):
    cache.get_or_compute("features", {"k": 1}, lambda: {"x": np.arange(1000.0)})
    path = cache.entry_path("features", cache.make_key("features", {"k": 1}))
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        i = raw.rindex(np.arange(1000.0)[500:501].tobytes())  # a payload byte
        path.write_bytes(raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1 :])
    else:
        path.write_bytes(b"not a zip file")
    calls = []
    out = cache.get_or_compute("features", {"k": 1}, lambda: calls.append(1) or {"x": np.arange(1000.0)})
    assert calls == [1]
    np.testing.assert_array_equal(out["x"], np.arange(1000.0))


def test_unknown_namespace_is_refused():
    with pytest.raises(ValueError, match="unknown cache namespace 'nope'; valid: features"):
        cache.make_key("nope", {})


def test_validate_choice_lists_valid_values():
    with pytest.raises(ValueError, match="unknown stimulus 'gratings'; valid stimulus values: natural_scenes, natural_movie_one"):
        study.validate_choice("stimulus", "gratings", study.STIMULUS_NAMES)


def test_paths_follow_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RSA_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("RSA_RESULTS", str(tmp_path / "r"))
    assert config.manifest_path("synthetic") == tmp_path / "d" / "synthetic" / "manifest.json"
    assert tables.results_path("allen", "natural_scenes", 175) == tmp_path / "r" / "allen" / "natural_scenes_175.csv"
    monkeypatch.setenv("RSA_CHECKPOINTS", str(tmp_path / "c"))
    assert config.checkpoint_search_dirs()[0] == tmp_path / "c"


def test_layers_and_pathways():
    assert len(study.LAYERS) == 14
    assert [study.layer_pathway(x) for x in ("s1", "p1_res_block3", "p2_res_block6", "out", "pixel")] == [
        "shared", "P1", "P2", "shared", "pixel"]
    with pytest.raises(ValueError, match="unknown layer"):
        study.layer_pathway("fc7")


def test_environment_yml_pins_match_pyproject():
    root = config.PROJECT_ROOT
    deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = [p for p in pip_section if not p.startswith("-e")]
    assert sorted(pins) == sorted(deps)
    assert all("==" in d for d in deps), "every direct dependency is pinned exactly"
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python == ["python=3.11"]


def test_lock_file_agrees_with_pyproject():
    root = config.PROJECT_ROOT
    deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    lock = {}
    for line in (root / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            lock[name.lower().replace("_", "-")] = version.strip()
    for dep in deps:
        name, version = dep.split("==")
        assert lock.get(name.lower().replace("_", "-")) == version, dep
