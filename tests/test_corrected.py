"""Corrected protocol building blocks: latency, matched cells, missing data, reliability, ceilings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import protocols, rdm, responses
from analysis.compare import tau_a


# ---------------------------------------------------------------- latency and windows

def test_scene_latency_shifts_the_window():
    events = np.arange(40, dtype=float)[None]  # one cell, value = frame index
    table = pd.DataFrame({"frame": [0, 1, 0, 1], "start": [0, 10, 20, 30]})
    r0 = responses.scene_responses(events, table, window=3, n_images=2, n_trials=2)
    r2 = responses.scene_responses(events, table, window=3, n_images=2, n_trials=2, latency=2)
    assert r0[0, 0, 0] == 0 + 1 + 2 and r2[0, 0, 0] == 2 + 3 + 4
    assert r2[1, 1, 0] == 32 + 33 + 34
    # latency 0 is the original protocol, bit for bit
    assert np.array_equal(r0, responses.scene_responses(events, table, window=3, n_images=2, n_trials=2, latency=0))


def test_scene_window_past_the_end_is_nan_not_garbage():
    events = np.ones((2, 12))
    table = pd.DataFrame({"frame": [0, 0], "start": [0, 10]})
    r = responses.scene_responses(events, table, window=3, n_images=1, n_trials=3, missing="nan", latency=2)
    assert r[0, 0, 0] == 3 and np.isnan(r[1, 0]).all()  # starts at frame 12: no data
    assert np.isnan(r[2, 0]).all()  # never presented


def test_movie_latency_reads_later_frames_and_marks_overruns_missing():
    events = np.arange(20, dtype=float)[None]
    table = pd.DataFrame({"frame": [0, 1, 0, 1], "start": [0, 1, 17, 18], "repeat": [0, 0, 1, 1]})
    r = responses.movie_frame_responses(events, table, n_frames=2, n_repeats=2, latency=1, missing="nan")
    assert r[0, :, 0].tolist() == [1, 2] and r[1, 0, 0] == 18 and r[1, 1, 0] == 19
    r3 = responses.movie_frame_responses(events, table, n_frames=2, n_repeats=2, latency=2, missing="nan")
    assert np.isnan(r3[1, 1, 0]) and r3[1, 0, 0] == 19
    with pytest.raises(ValueError, match="misses 1"):
        responses.movie_frame_responses(events, table, n_frames=2, n_repeats=2, latency=2)
    with pytest.raises(ValueError, match="latency"):
        responses.movie_frame_responses(events, table, n_frames=2, n_repeats=2, latency=-1)


# ---------------------------------------------------------------- matched cells

def _two_sessions():
    rng = np.random.default_rng(0)
    a = rng.random((4, 5, 3))  # cells 10, 11, 12
    b = rng.random((4, 5, 2))  # cells 12, 13
    return a, np.array([10, 11, 12]), b, np.array([12, 13])


def test_a_cell_in_two_sessions_counts_once_average_rule():
    a, ia, b, ib = _two_sessions()
    m = responses.match_cells([a, b], [ia, ib])
    assert m.cell_specimen_ids.tolist() == [10, 11, 12, 13]
    assert m.n_sessions.tolist() == [1, 1, 2, 1]
    assert m.responses.shape == (4, 5, 4)
    np.testing.assert_allclose(m.responses[..., 0], a[..., 0])
    np.testing.assert_allclose(m.responses[..., 2], (a[..., 2] + b[..., 0]) / 2)  # trial k: mean of repeat k
    np.testing.assert_allclose(m.responses[..., 3], b[..., 1])
    # the original pooling would count cell 12 twice
    assert responses.pool_neurons([a, b]).shape[2] == 5


def test_concatenate_rule_keeps_every_presentation_with_nan_elsewhere():
    a, ia, b, ib = _two_sessions()
    m = responses.match_cells([a, b], [ia, ib], rule="concatenate")
    assert m.responses.shape == (8, 5, 4)
    np.testing.assert_array_equal(m.responses[:4, :, 2], a[..., 2])
    np.testing.assert_array_equal(m.responses[4:, :, 2], b[..., 0])
    assert np.isnan(m.responses[4:, :, 0]).all() and np.isnan(m.responses[:4, :, 3]).all()
    # with complete data both rules give the same all-trial means
    avg = responses.match_cells([a, b], [ia, ib])
    np.testing.assert_allclose(responses.trial_mean(m.responses), responses.trial_mean(avg.responses))


def test_average_rule_ignores_a_missing_slot_in_one_session():
    a, ia, b, ib = _two_sessions()
    a = a.copy()
    a[1, 2, 2] = np.nan
    m = responses.match_cells([a, b], [ia, ib])
    assert m.responses[1, 2, 2] == b[1, 2, 0]  # only the session with data
    a[1, 2, 0] = np.nan
    assert np.isnan(responses.match_cells([a, b], [ia, ib]).responses[1, 2, 0])  # no session: NaN


def test_match_cells_rejects_bad_input():
    a, ia, b, ib = _two_sessions()
    with pytest.raises(ValueError, match="repeated"):
        responses.match_cells([a], [np.array([1, 1, 2])])
    with pytest.raises(ValueError, match="disagree"):
        responses.match_cells([a, b[:3]], [ia, ib])
    with pytest.raises(ValueError, match="valid rules"):
        responses.match_cells([a], [ia], rule="sum")


# ---------------------------------------------------------------- missing data

def test_trial_mean_uses_valid_trials_and_leaves_empty_slots_nan():
    r = np.array([[[1.0, np.nan]], [[3.0, np.nan]], [[np.nan, np.nan]]])  # (3 trials, 1 cond, 2 cells)
    with np.errstate(all="raise"):
        m = responses.trial_mean(r)
    assert m[0, 0] == 2.0 and np.isnan(m[0, 1])
    assert responses.complete_cells(m).tolist() == [True, False]


def test_mean_rdm_drops_cells_without_data_in_a_condition():
    rng = np.random.default_rng(1)
    r = rng.random((6, 5, 8))
    full = rdm.mean_rdm(r)
    np.testing.assert_allclose(full, rdm.calc_rdms(r.mean(axis=0)))  # all trials, not halves
    r2 = np.concatenate([r, np.full((6, 5, 1), np.nan)], axis=2)
    r2[:3, 0, -1] = 5.0  # the extra cell has data in condition 0 only
    np.testing.assert_allclose(rdm.mean_rdm(r2), full)
    r3 = r.copy()
    r3[2, 1, 0] = np.nan  # one missing trial: that cell's mean is over the other five
    m = r.mean(axis=0)
    m[1, 0] = np.delete(r[:, 1, 0], 2).mean()
    np.testing.assert_allclose(rdm.mean_rdm(r3), rdm.calc_rdms(m))


# ---------------------------------------------------------------- reliability

def test_spearman_brown_known_values():
    assert responses.spearman_brown(0.5) == pytest.approx(2 / 3)
    assert responses.spearman_brown(0.0) == 0.0 and responses.spearman_brown(1.0) == 1.0
    np.testing.assert_allclose(responses.spearman_brown(np.array([0.25, 0.5]), factor=3), [0.5, 0.75])


def test_reliability_separates_tuned_from_noise_cells_and_is_seeded():
    rng = np.random.default_rng(2)
    tuning = rng.normal(size=(40, 1)) * 3
    tuned = tuning + rng.normal(size=(20, 40, 10))
    noise = rng.normal(size=(20, 40, 10))
    silent = np.zeros((20, 40, 1))
    r = np.concatenate([tuned, noise, silent], axis=2)
    rel = responses.split_half_reliability(r, np.random.default_rng(3))
    assert (rel[:10] > 0.9).all() and (rel[10:20] < 0.5).all() and np.isnan(rel[20])
    keep = responses.reliable_cells(r, 0.5, np.random.default_rng(3))
    assert keep.tolist() == [True] * 10 + [False] * 11
    again = responses.split_half_reliability(r, np.random.default_rng(3))
    np.testing.assert_array_equal(np.nan_to_num(rel, nan=9), np.nan_to_num(again, nan=9))


def test_reliability_matches_spearman_brown_of_population_correlation():
    # signal variance s2, noise variance n2 per trial, T trials: half-mean r = s2 / (s2 + n2 / (T/2))
    rng = np.random.default_rng(4)
    s2, n2, t = 1.0, 10.0, 20
    r = rng.normal(size=(1, 400, 200)) * np.sqrt(s2) + rng.normal(size=(t, 400, 200)) * np.sqrt(n2)
    expected = s2 / (s2 + n2 / t)  # Spearman-Brown of the half reliability = full-length reliability
    rel = responses.split_half_reliability(r, np.random.default_rng(0), n_splits=5)
    assert np.median(rel) == pytest.approx(expected, abs=0.03)


# ---------------------------------------------------------------- ceilings

def _population(rng, n_cond=20, n_cells=60, n_trials=10, noise=1.0):
    signal = rng.normal(size=(1, n_cond, n_cells))
    return signal + noise * rng.normal(size=(n_trials, n_cond, n_cells))


def test_spearman_brown_ceiling_exceeds_raw_and_is_seeded():
    r = _population(np.random.default_rng(5), noise=2.0)
    c = rdm.split_half_ceiling_sb(r, 10, np.random.default_rng(0))
    assert c.raw.shape == c.corrected.shape == (10,)
    assert (c.corrected > c.raw).all() and (c.corrected < 1).all() and (c.raw > 0).all()
    np.testing.assert_allclose(c.corrected, 2 * c.raw / (1 + c.raw))
    np.testing.assert_array_equal(c.raw, rdm.split_half_ceiling_sb(r, 10, np.random.default_rng(0)).raw)
    # with complete data the raw draws equal the original protocol's ceiling
    np.testing.assert_allclose(c.raw, rdm.split_half_ceiling(r, 10, np.random.default_rng(0)))


def test_nili_bounds_identical_subjects_give_one():
    x = np.random.default_rng(6).random(45)
    nb = rdm.nili_bounds(np.stack([x, x, x]))
    assert nb.lower == pytest.approx(1.0) and nb.upper == pytest.approx(1.0)


def test_nili_bounds_order_and_match_rsatoolbox():
    from rsatoolbox.inference import boot_noise_ceiling
    from rsatoolbox.rdm import RDMs

    rng = np.random.default_rng(7)
    common = rng.random(66)
    subj = common + 0.3 * rng.random((5, 66))
    nb = rdm.nili_bounds(subj)
    assert 0 < nb.lower <= nb.upper < 1
    lo, hi = boot_noise_ceiling(RDMs(subj), method="tau-a")
    assert nb.lower == pytest.approx(lo, abs=1e-12) and nb.upper == pytest.approx(hi, abs=1e-12)
    # with two subjects the lower bound is their tau-a
    two = rdm.nili_bounds(subj[:2])
    assert two.lower == pytest.approx(tau_a(subj[0], subj[1])[0, 0])


def test_nili_bounds_weights_equal_duplicating_subjects():
    rng = np.random.default_rng(8)
    subj = rng.random((3, 28)) + rng.random(28)
    w = rdm.nili_bounds(subj, weights=np.array([2.0, 0.0, 1.0]))
    d = rdm.nili_bounds(subj[[0, 0, 2]])
    assert w.upper == pytest.approx(d.upper)
    # a duplicated subject's leave-one-out group keeps its copy (as a resampled set would)
    assert w.lower == pytest.approx(d.lower)
    with pytest.raises(ValueError, match="at least 2"):
        rdm.nili_bounds(subj[:1])


def test_rank_mean_rdm_is_the_mean_of_ranks():
    x = np.array([[1.0, 5.0, 3.0], [30.0, 10.0, 20.0]])
    np.testing.assert_allclose(rdm.rank_mean_rdm(x), [[2.0, 2.0, 2.0]])


# ---------------------------------------------------------------- protocols

def test_protocols_describe_the_fixes():
    o, c = protocols.get_protocol("original"), protocols.get_protocol("corrected")
    assert (o.match_cells, o.keep_aspect, o.scene_latency, o.scene_window, o.brain_rdms) == (False, False, 0, 15, "halves")
    assert (c.match_cells, c.keep_aspect, c.missing, c.brain_rdms, c.ceiling) == (True, True, "nan", "all_trials", "spearman_brown")
    assert c.scene_latency > 0 and c.movie_latency > 0 and c.nili_bounds
    with pytest.raises(ValueError, match="valid protocol"):
        protocols.get_protocol("best")
    with pytest.raises(ValueError):
        protocols.Protocol(**{**c.as_dict(), "scene_window": 0})


def test_subject_tensors_count_each_cell_once(small_boc):
    from analysis import brain, study

    movie = study.get_stimulus("natural_movie_one")
    kw = dict(cre_line=study.CRE_LINE, movie_bin=15, seed=0)
    s = brain.subject_tensors(small_boc, movie, "VISp", 175, protocols.CORRECTED, **kw)
    subj = dict(zip(s.container_ids, s.cells))
    assert len(subj) == 2  # two containers of VISp in the small preset
    o = brain.subject_tensors(small_boc, movie, "VISp", 175, protocols.ORIGINAL, **kw)
    orig = dict(zip(o.container_ids, o.cells))
    for cid, m in subj.items():
        assert np.unique(m.cell_specimen_ids).size == m.cell_specimen_ids.size
        assert m.responses.shape[:2] == (10, 60)
        assert (m.n_sessions >= 1).all() and (m.n_sessions <= 3).all() and (m.n_sessions > 1).any()
        assert orig[cid].responses.shape[2] == m.n_sessions.sum()  # original: one column per sighting
    pooled = brain.pool_subjects("VISp", s)
    assert pooled.responses.shape[2] == sum(m.responses.shape[2] for m in subj.values())
    assert [int(np.sum(pooled.groups == i)) for i in range(2)] == [m.responses.shape[2] for m in subj.values()]
