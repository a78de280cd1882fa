"""The study as data: stimulus records, protocols defined only as data, every stimulus of the survey."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import allen, cache, config, pipeline, protocols, study, synthetic, tables

PACKAGE = Path(__file__).resolve().parent.parent / "analysis"


# --------------------------------------------------------------------------------------
# The vocabulary
# --------------------------------------------------------------------------------------


def test_the_survey_has_four_natural_stimuli_with_their_sessions_and_counts():
    s = study.STIMULI
    assert list(s) == ["natural_scenes", "natural_movie_one", "natural_movie_two", "natural_movie_three"]
    assert (s["natural_scenes"].kind, s["natural_scenes"].n_frames, s["natural_scenes"].presentations) == ("static", 118, 50)
    assert s["natural_scenes"].sessions == ("three_session_B",)
    assert set(s["natural_movie_one"].sessions) == set(study.SESSION_TYPES)
    assert s["natural_movie_two"].sessions == ("three_session_C", "three_session_C2")
    assert (s["natural_movie_three"].n_frames, s["natural_movie_three"].sessions) == (3600, ("three_session_A",))
    assert s["natural_movie_one"].n_conditions() == 60 and s["natural_movie_three"].n_conditions() == 240
    assert s["natural_movie_one"].n_conditions(1) == 900 and s["natural_scenes"].n_conditions(5) == 118
    assert study.DEFAULT_STIMULI == ("natural_scenes", "natural_movie_one")
    assert study.stimuli_in_session("three_session_A") == ("natural_movie_one", "natural_movie_three")
    with pytest.raises(ValueError, match="natural_movie_three does not divide|does not divide the 3600 frames"):
        s["natural_movie_three"].check_bin(7)
    with pytest.raises(ValueError, match="valid stimulus values: natural_scenes, natural_movie_one"):
        study.get_stimulus("natural_movie_four")


def _string_compares(tree: ast.AST) -> list[str]:
    """Comparisons of anything with a string literal naming a stimulus (``== "natural_..."``)."""
    names = set(study.STIMULUS_NAMES)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for c in [node.left, *node.comparators]:
                if isinstance(c, ast.Constant) and c.value in names:
                    out.append(f"line {node.lineno}: {c.value}")
    return out


def test_no_module_outside_the_study_compares_stimulus_names_or_unpacks_the_list():
    bad = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "study.py":
            continue
        tree = ast.parse(path.read_text())
        found = _string_compares(tree)
        for node in ast.walk(tree):  # `_SCENES, _MOVIE = config.STIMULI` breaks with a third stimulus
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple) and \
                    isinstance(node.value, ast.Attribute) and node.value.attr in ("STIMULI", "STIMULUS_NAMES"):
                found.append(f"line {node.lineno}: unpacks {node.value.attr}")
        if found:
            bad[str(path.relative_to(PACKAGE))] = found
    assert not bad, bad


def test_no_branch_on_a_protocol_name():
    bad = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        found = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                for c in [node.left, *node.comparators]:
                    if isinstance(c, ast.Constant) and c.value in ("original", "corrected"):
                        found.append(node.lineno)
        if found:
            bad[str(path.relative_to(PACKAGE))] = found
    assert not bad, bad


def test_every_protocol_setting_is_read_outside_the_protocols_module():
    """Each field of Protocol governs a step: it is read (``.field``) somewhere else."""
    text = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py") if p.name != "protocols.py")
    proto = (PACKAGE / "protocols.py").read_text()
    unread = []
    for f in dataclasses.fields(protocols.Protocol):
        if f.name == "name":
            continue
        # read directly elsewhere, or through one of the protocol's step settings
        if f".{f.name}" not in text and f"self.{f.name}" not in proto:
            unread.append(f.name)
    assert not unread, unread


def test_protocol_settings_are_validated():
    with pytest.raises(ValueError, match="nili_bounds need one RDM per container"):
        dataclasses.replace(protocols.ORIGINAL, name="x", nili_bounds=True)
    with pytest.raises(ValueError, match="valid protocols: original, corrected"):
        protocols.get_protocol("best")


# --------------------------------------------------------------------------------------
# Protocols defined only as data
# --------------------------------------------------------------------------------------


@pytest.fixture()
def extra_protocols():
    """Two protocols defined only as data (removed again after the test)."""
    w10 = protocols.register(dataclasses.replace(protocols.ORIGINAL, name="window10", scene_window=10))
    mixed = protocols.register(dataclasses.replace(
        protocols.CORRECTED, name="pooled_sb", brain_rdms="halves", nili_bounds=False, match_cells=True,
        keep_aspect=False, movie_latency=1))
    yield w10, mixed
    for p in (w10, mixed):
        protocols.PROTOCOLS.pop(p.name, None)


def _scenes(protocol: str, **kw) -> pipeline.RunConfig:
    return pipeline.RunConfig("natural_scenes", 175, protocol=protocol, checkpoint_names=("rat1",),
                              areas=("VISp", "VISl"), n_brain_rdms=5, n_splits=5, n_boot=0, **kw)


@pytest.mark.usefixtures("real_checkpoints")  # scores rat1
@pytest.mark.slow
def test_a_ten_frame_window_changes_the_scenes_table_and_misses_the_cache(small_cache, isolated_env,
                                                                          extra_protocols, monkeypatch):
    calls = []
    real = allen.load_session
    monkeypatch.setattr(allen, "load_session", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    t15 = pipeline.compute_tables(_scenes("original"), progress=False).table
    n15 = len(calls)
    assert n15 > 0
    again = pipeline.compute_tables(_scenes("original"), progress=False).table
    assert len(calls) == n15 and again.equals(t15)  # warm: no session read
    res10 = pipeline.compute_tables(_scenes("window10"), progress=False)
    assert len(calls) == 2 * n15  # the 10-frame window is not served from the 15-frame entries
    t10 = res10.table
    assert res10.provenance["protocol_settings"]["scene_window"] == 10
    m = t15.merge(t10, on=["area", "row_type", "checkpoint", "layer"], suffixes=("_15", "_10"))
    assert len(m) == len(t15)
    assert not np.allclose(m.score_15, m.score_10)
    assert (t10.protocol == "window10").all()
    assert tables.results_path("synthetic", "natural_scenes", 175, protocol="window10").name == \
        "natural_scenes_175_window10.csv"


@pytest.mark.usefixtures("real_checkpoints")  # scores rat1
@pytest.mark.slow
def test_a_third_protocol_defined_only_as_data_runs_end_to_end(small_cache, isolated_env, extra_protocols):
    """Matched cells scored against trial halves with a Spearman-Brown ceiling: a combination
    neither defined protocol has, run through every step from its settings alone."""
    cfg = pipeline.RunConfig("natural_movie_one", 175, protocol="pooled_sb", checkpoint_names=("rat1", "ts1"),
                             areas=("VISp",), n_brain_rdms=6, n_splits=6, n_boot=20)
    path = pipeline.run(cfg, progress=False)
    assert path.name == "natural_movie_one_175_pooled_sb.csv"
    t = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert set(t.row_type) == {"noise_ceiling", "baseline", "model"}  # no Nili rows: nili_bounds False
    models = t[t.row_type == "model"]
    assert (models.score_sd > 0).all()  # spread over the 6 half-trial RDMs
    assert models.ci_low.notna().all() and (models.ci_low <= models.score).all()
    ceiling = t[t.row_type == "noise_ceiling"].score.iloc[0]
    orig = pipeline.compute_tables(dataclasses.replace(cfg, protocol="original"), progress=False).table
    o_ceiling = orig[orig.row_type == "noise_ceiling"].score.iloc[0]
    assert ceiling > o_ceiling  # Spearman-Brown raises a raw split-half ceiling of matched cells
    assert t.n_neurons.iloc[0] < orig.n_neurons.iloc[0]  # matched: each cell once
    tests = tables.results_path("synthetic", "natural_movie_one", 175, protocol="pooled_sb", kind="tests")
    assert tests.exists()


# --------------------------------------------------------------------------------------
# Every natural stimulus of the survey in the synthetic Brain Observatory
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def four_stimuli(tmp_path_factory, small_cache):
    root = tmp_path_factory.mktemp("four") / "synthetic"
    synthetic.build_synthetic_cache(root, preset="small", seed=0, progress=False, stimuli=study.STIMULUS_NAMES)
    return root


@pytest.mark.slow
def test_extra_movies_are_shown_in_the_survey_sessions_and_leave_the_base_data_unchanged(four_stimuli, small_cache):
    boc4 = allen.open_cache("synthetic", four_stimuli)
    boc2 = allen.open_cache("synthetic", small_cache)
    assert synthetic.cache_description(four_stimuli)["stimuli"] == study.STIMULUS_NAMES
    for name, stim in study.STIMULI.items():
        exps = allen.select_experiments(boc4, name, "VISp", 175)
        assert {e.session_type for e in exps} == set(stim.sessions) & set(synthetic.SESSION_TYPES), name
        s = allen.load_session(boc4, exps[0].experiment_id, name)
        if stim.is_movie:
            assert len(s.stim_table) == stim.n_frames * stim.presentations
            assert s.stim_table["repeat"].max() == stim.presentations - 1
        tpl = allen.load_template(boc4, name)
        assert tpl.shape[0] == stim.n_frames and tpl.dtype == np.uint8
    # the two base stimuli: the same events at the same frames as in a cache without the extras
    for name in study.DEFAULT_STIMULI:
        for e in allen.select_experiments(boc2, name, "VISl", 175):
            a, b = allen.load_session(boc2, e.experiment_id, name), allen.load_session(boc4, e.experiment_id, name)
            assert a.stim_table.equals(b.stim_table)
            assert np.array_equal(a.events, b.events[:, :a.events.shape[1]])
    movie3, movie1 = allen.load_template(boc4, "natural_movie_three"), allen.load_template(boc4, "natural_movie_one")
    assert not np.array_equal(movie3[:900], movie1)  # its own stand-in


@pytest.mark.usefixtures("real_checkpoints")  # scores rat1
@pytest.mark.slow
def test_natural_movie_three_runs_end_to_end(four_stimuli, isolated_env, monkeypatch):
    monkeypatch.setenv("RSA_DATA", str(four_stimuli.parent))
    cfg = pipeline.RunConfig("natural_movie_three", 175, checkpoint_names=("rat1",), areas=("VISp",),
                             n_brain_rdms=4, n_splits=4)
    assert cfg.n_boot == 0  # 240 conditions: above the automatic-inference limit
    res = pipeline.compute_tables(cfg, progress=False)
    assert (res.table.n_conditions == 240).all()
    area = res.provenance["areas"]["VISp"]
    assert area["n_trials"] == 5 and set(area["session_types"]) == {"three_session_A"}
    ceiling = res.table[res.table.row_type == "noise_ceiling"].score.iloc[0]
    assert 0.05 < ceiling < 0.95
