"""Mathematical properties of RDMs, noise ceilings and scores."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import rdm


def correlation_rdm(patterns: np.ndarray) -> np.ndarray:
    iu = np.triu_indices(patterns.shape[0], 1)
    return (1 - np.corrcoef(patterns))[iu]


def test_calc_rdms_is_correlation_distance_in_rsatoolbox_order():
    x = np.random.default_rng(1).normal(size=(3, 7, 40))
    got = rdm.calc_rdms(x)
    assert got.shape == (3, 21)
    for i in range(3):
        np.testing.assert_allclose(got[i], correlation_rdm(x[i]), atol=1e-12)
    np.testing.assert_allclose(rdm.calc_rdms(x[0]), got[:1])


def test_calc_rdms_rejects_bad_shapes():
    with pytest.raises(ValueError, match="at least 3 conditions"):
        rdm.calc_rdms(np.ones((2, 5)))
    with pytest.raises(ValueError, match="patterns must be"):
        rdm.calc_rdms(np.ones(5))


def test_half_splits_are_halves_and_seeded():
    a = rdm.half_splits(10, 100, np.random.default_rng(3))
    b = rdm.half_splits(10, 100, np.random.default_rng(3))
    assert a.shape == (100, 5)
    np.testing.assert_array_equal(a, b)
    assert all(len(set(row)) == 5 for row in a)
    assert len({tuple(r) for r in a}) > 50  # draws differ


def noiseless(n_trials=10, n_cond=20, n_neurons=60, seed=0):
    signal = np.random.default_rng(seed).gamma(2.0, size=(n_cond, n_neurons))
    return np.broadcast_to(signal, (n_trials, n_cond, n_neurons)).copy(), signal


def test_noiseless_population_has_noise_ceiling_one():
    resp, _ = noiseless()
    ceiling = rdm.split_half_ceiling(resp, 20, np.random.default_rng(0))
    np.testing.assert_allclose(ceiling, 1.0, atol=1e-12)


def test_noise_lowers_the_ceiling_monotonically():
    _, signal = noiseless(n_trials=50)
    rng = np.random.default_rng(5)
    medians = []
    for sigma in (0.5, 2.0, 8.0):
        resp = signal + rng.normal(scale=sigma, size=(50,) + signal.shape)
        medians.append(np.median(rdm.split_half_ceiling(resp, 30, np.random.default_rng(1))))
    assert 1 > medians[0] > medians[1] > medians[2]


def test_brain_rdms_of_noiseless_population_equal_the_true_rdm():
    resp, signal = noiseless()
    brain = rdm.brain_rdms(resp, 25, np.random.default_rng(0))
    assert brain.shape == (25, 190)
    np.testing.assert_allclose(brain, np.broadcast_to(correlation_rdm(signal), brain.shape), atol=1e-12)


def test_scores_of_the_true_rdm_against_noiseless_brain_are_one():
    resp, signal = noiseless()
    brain = rdm.brain_rdms(resp, 10, np.random.default_rng(0))
    model = np.stack([correlation_rdm(signal), -correlation_rdm(signal)])
    scores = rdm.score_models(model, brain)
    np.testing.assert_allclose(scores.mean, [1.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(scores.sd, 0.0, atol=1e-12)
    assert scores.all.shape == (2, 10)


def test_derive_rng_depends_on_every_label():
    draws = {rdm.derive_rng(42, *labels).integers(1 << 30) for labels in
             [("a", 1), ("a", 2), ("b", 1), ("a", 1, "x")]}
    assert len(draws) == 4
    assert rdm.derive_rng(42, "a", 1).integers(1 << 30) == rdm.derive_rng(42, "a", 1).integers(1 << 30)


def test_calc_rdms_equals_rsatoolbox():
    import rsatoolbox

    x = np.random.default_rng(2).normal(size=(2, 30, 200))
    expected = rsatoolbox.rdm.calc_rdm([rsatoolbox.data.Dataset(p) for p in x], method="correlation").get_vectors()
    np.testing.assert_allclose(rdm.calc_rdms(x), expected, atol=1e-12, rtol=0)


def test_brain_rdms_are_the_rdms_of_each_halfs_nanmean():
    # the NaN-free fast path must give exactly the RDMs of np.nanmean over each random half,
    # and a tensor with NaN slots must still average the others
    rng = np.random.default_rng(3)
    r = rng.gamma(1.0, 1.0, (50, 12, 40)) * (rng.random((50, 12, 40)) < 0.4)
    for tensor in (r, np.where(rng.random(r.shape) < 0.01, np.nan, r)):
        got = rdm.brain_rdms(tensor, 7, np.random.default_rng(9))
        halves = rdm.half_splits(50, 7, np.random.default_rng(9))
        want = rdm.calc_rdms(np.stack([np.nanmean(tensor[h], axis=0) for h in halves]))
        np.testing.assert_array_equal(got, want)
