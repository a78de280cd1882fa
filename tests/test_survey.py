"""The survey design of the synthetic generator: the real counts, session timeline, exact in-memory sessions."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import published, study
from analysis.synthetic import PRESETS, _container_specs
from analysis.synthetic.neurons import L0_HALF_LIFE_S, l0_dff
from analysis.synthetic.response_model import ResponseModel, load_response_model
from analysis.synthetic.survey import EPOCH_PLANS, SESSION_FRAMES, load_survey
from analysis.synthetic.timeline import survey_timeline


def test_survey_reproduces_the_original_counts():
    sv = load_survey(study.CRE_LINE)
    assert set(sv.cells) == set(published.COUNTS)
    for key, (n_cont, n_ns, ns_cells, n_nm, nm_cells) in published.COUNTS.items():
        rows = sv.cells[key]
        assert len(rows) == n_cont == n_ns and 3 * n_cont == n_nm
        assert sum(r["three_session_B"] for r in rows) == ns_cells
        assert sum(sum(r.values()) for r in rows) == nm_cells


def test_default_preset_has_the_survey_design():
    pre = PRESETS["default"]
    specs = [c for c in _container_specs(pre) if c.cre_line == study.CRE_LINE and not c.failed]
    assert len(specs) == sum(v[0] for v in published.COUNTS.values()) == 63
    for c in specs:
        assert c.session_cells is not None and len(c.cell_ids) >= max(c.session_cells.values())


def test_unknown_cre_line_names_the_known_ones():
    with pytest.raises(ValueError, match="cux2_creert2"):
        load_survey("Sst-IRES-Cre")


ITEMS = {"natural_scenes": 0, "grey": 118, "natural_movie_one": 119}
MOVIES = {"natural_movie_one": (900, 10), "natural_movie_two": (900, 10), "natural_movie_three": (3600, 5)}


@pytest.mark.parametrize("session_type", sorted(EPOCH_PLANS))
def test_timeline_has_the_real_length_order_and_designs(session_type):
    tl, epochs = survey_timeline(session_type, np.random.default_rng(0), ITEMS, MOVIES,
                                 ["natural_scenes", "natural_movie_one"])
    assert tl.n_frames == SESSION_FRAMES == len(tl.item)
    assert [e.stimulus for e in epochs] == [name for name, _ in EPOCH_PLANS[session_type]]
    starts = [e.start for e in epochs]
    assert starts == sorted(starts) and all(a.end <= b.start for a, b in zip(epochs, epochs[1:]))
    data, frames = tl.tables["natural_movie_one"]
    assert len(data) == 9000 and np.array_equal(np.bincount(data), np.full(900, 10))
    movie = next(e for e in epochs if e.stimulus == "natural_movie_one")
    assert frames[:, 0].min() >= movie.start and frames[:, 1].max() <= movie.end
    if session_type == "three_session_B":
        data, frames = tl.tables["natural_scenes"]
        assert np.array_equal(np.bincount(data + 1), np.full(119, 50))  # 118 images and the blank
        scenes = [e for e in epochs if e.stimulus == "natural_scenes"]
        assert len(scenes) == 3
        inside = np.zeros(len(data), bool)
        for e in scenes:
            inside |= (frames[:, 0] >= e.start) & (frames[:, 1] <= e.end)
        assert inside.all()
    else:
        assert "natural_scenes" not in tl.tables
    # other stimuli are epochs without a table
    assert set(tl.tables) <= {"natural_scenes", "natural_movie_one", "spontaneous"}


def test_l0_transient_halves_in_its_half_life():
    events = np.zeros((1, 200), np.float32)
    events[0, 10] = 1.0
    dff = l0_dff(events)
    k = L0_HALF_LIFE_S * 30.08
    lo, hi = int(np.floor(k)), int(np.ceil(k))
    assert dff[0, 10] == 1.0 and dff[0, :10].max() == 0
    assert dff[0, 10 + hi] <= 0.5 + 1 / 128 and dff[0, 10 + lo] >= 0.5 - 1 / 128
    assert np.all(np.diff(dff[0, 10:]) <= 0)
    assert np.allclose(dff * 128, np.round(dff * 128))  # on the 1/128 grid


def test_response_model_lookup_falls_back_as_documented():
    m = ResponseModel().replace("natural_movie_one", "VISp", 175, 0.3, 0.2).replace("natural_scenes", "VISp", 275,
                                                                                    0.1, 0.2)
    assert m.gain("natural_movie_one", "VISp", 175) == 0.3
    assert m.gain("natural_movie_three", "VISp", 375) == 0.3  # movie -> movie one, nearest depth
    assert m.gain("natural_scenes", "VISp", 175) == 0.1  # nearest fitted depth
    assert m.gain("natural_scenes", "VISl", 175) == 1.0  # never fitted: defaults
    assert m.trial_sigma("natural_scenes", "VISl", 175, 0.55) == 0.55


def test_fitted_model_covers_the_published_cells():
    m = load_response_model(study.CRE_LINE)
    fitted = {(s, d, a) for (s, a, d) in m.params}
    assert fitted == {(s, d, a) for (s, d), areas in published.NOISE_CEILINGS.items() for a in areas}
    assert all(g > 0 and ts > 0 and ss >= 0 for g, ts, ss in m.params.values())


@pytest.fixture(scope="module")
def survey_cache(tmp_path_factory, session_env):
    from analysis.synthetic import build_synthetic_cache

    root = tmp_path_factory.mktemp("survey") / "boc"
    build_synthetic_cache(root, preset="small_survey", seed=3, progress=False, jobs=1)
    return root


def test_survey_cache_is_read_by_allensdk_with_real_sessions(survey_cache):
    from analysis import allen

    boc = allen.open_cache("synthetic", survey_cache)
    exps = allen.select_experiments(boc, "natural_scenes", "VISp", 175, study.CRE_LINE)
    assert len(exps) == 2
    data = boc.get_ophys_experiment_data(exps[0].experiment_id)
    assert data.get_dff_traces()[1].shape[1] == SESSION_FRAMES
    assert set(data.list_stimuli()) == {"natural_scenes", "natural_movie_one", "spontaneous"}
    assert data.get_stimulus_table("natural_scenes").shape[0] == 5950


@pytest.mark.parametrize("stimulus", ["natural_scenes", "natural_movie_one"])
@pytest.mark.parametrize("protocol", ["original", "corrected"])
def test_in_memory_sessions_equal_the_files(survey_cache, stimulus, protocol):
    """What the calibration and the identifiability study simulate in memory is exactly what
    the pipeline reads from the built files."""
    from analysis import allen, brain, protocols
    from analysis import stimuli as stimuli_mod
    from analysis.synthetic import calibrate
    from analysis.synthetic.build import _templates, feature_maps

    pre = PRESETS["small_survey"]
    spec = protocols.get_protocol(protocol)
    stim = study.get_stimulus(stimulus)
    boc = allen.open_cache("synthetic", survey_cache)
    files = brain.subject_tensors(boc, stim, "VISp", 175, spec, cre_line=study.CRE_LINE,
                                  movie_bin=stim.default_bin, seed=study.SEED)
    scenes, movie = _templates(pre, stimuli_mod)
    cell = calibrate.cell_data(pre, 3, stimulus, "VISp", 175, feature_maps(scenes, movie))
    memory = calibrate.cell_subjects(cell, load_response_model(pre.survey), spec)
    assert len(memory) == len(files.cells) == 2
    for a, b in zip(files.cells, memory):
        np.testing.assert_array_equal(a.responses, b.responses)
        np.testing.assert_array_equal(a.cell_specimen_ids, b.cell_specimen_ids)


def test_survey_build_does_not_depend_on_workers(survey_cache, tmp_path):
    from analysis.synthetic import build_synthetic_cache

    other = build_synthetic_cache(tmp_path / "b", preset="small_survey", seed=3, progress=False, jobs=2)
    for sub in ("ophys_experiment_events", "ophys_experiment_data"):
        names = sorted(p.name for p in (survey_cache / sub).iterdir())
        assert names == sorted(p.name for p in (other / sub).iterdir())
        for n in names:
            assert (survey_cache / sub / n).read_bytes() == (other / sub / n).read_bytes(), n


@pytest.mark.slow  # ~20 simulated fits of a small cell
def test_fit_recovers_a_known_median(session_env):
    """The calibration's fit finds a median that a known gain produces (a parameter-recovery check)."""
    from analysis import protocols
    from analysis import stimuli as stimuli_mod
    from analysis.synthetic import calibrate
    from analysis.synthetic.build import _templates, feature_maps

    pre = PRESETS["small_survey"]
    scenes, movie = _templates(pre, stimuli_mod)
    cell = calibrate.cell_data(pre, 5, "natural_movie_one", "VISp", 175, feature_maps(scenes, movie))
    truth = ResponseModel().replace("natural_movie_one", "VISp", 175, 0.4, calibrate.TRIAL_SIGMA)
    draws = calibrate.cell_ceilings(cell, truth, protocols.ORIGINAL)["row0"]
    med, sd = float(np.median(draws)), float(np.std(draws))
    fit = calibrate.fit_cell(cell, (med, med - sd, med + sd), protocols.ORIGINAL, ResponseModel())
    assert abs(fit["median"] - med) <= published.MEDIAN_TOLERANCE
    assert 1 / published.WIDTH_FACTOR <= fit["sd"] / sd <= published.WIDTH_FACTOR
    assert fit["evaluations"] >= calibrate.GAIN_STEPS


def test_cache_of_another_generator_version_is_rebuilt(tmp_path, session_env):
    import json

    from analysis.synthetic import GENERATOR_VERSION, build_synthetic_cache, ensure_synthetic_cache

    root = build_synthetic_cache(tmp_path / "s", preset="small", seed=0, progress=False)
    prov = json.loads((root / "provenance.json").read_text())
    prov["generator_version"] = "1"
    (root / "provenance.json").write_text(json.dumps(prov))
    ensure_synthetic_cache(root, depths=(175,), preset="small", progress=False)
    assert json.loads((root / "provenance.json").read_text())["generator_version"] == GENERATOR_VERSION
