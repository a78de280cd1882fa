"""Inference: resampling of RDMs, bootstrap intervals, species tests, FDR."""

from __future__ import annotations

import time

import numpy as np
import pytest

from analysis import stats
from analysis.compare import tau_a


def _rdms(rng, n_cond, n_rdms, signal=1.0, noise=1.0):
    from analysis.rdm import calc_rdms

    base = rng.normal(size=(n_cond, 30))
    pats = signal * base[None] + noise * rng.normal(size=(n_rdms, n_cond, 30))
    return calc_rdms(pats)


def test_resample_columns_excludes_self_pairs_and_matches_rsatoolbox():
    from rsatoolbox.rdm import RDMs

    rng = np.random.default_rng(0)
    n = 7
    x = rng.random((2, n * (n - 1) // 2))
    c = np.array([3, 1, 3, 5, 1, 1, 6])
    cols = stats.resample_columns(c, n)
    counts = np.bincount(c, minlength=n)
    # pairs of distinct conditions, each as often as the product of their counts
    assert cols.size == (counts.sum() ** 2 - (counts**2).sum()) // 2
    ref = RDMs(x).subsample_pattern("index", c).get_vectors()
    assert np.isnan(ref).any()  # rsatoolbox marks the self-pairs NaN ...
    np.testing.assert_array_equal(ref[:, ~np.isnan(ref[0])], x[:, cols])  # ... which we leave out
    assert stats.resample_columns(np.arange(n), n).tolist() == list(range(n * (n - 1) // 2))


def test_pair_index_and_condition_count():
    idx = stats.pair_index(4)
    assert idx[0, 1] == 0 and idx[2, 3] == 5 and idx[3, 2] == 5 and idx[1, 1] == -1
    assert stats.n_conditions_of(6) == 4
    with pytest.raises(ValueError):
        stats.n_conditions_of(7)


def test_bootstrap_contains_point_shrinks_with_data_and_is_seeded():
    rng = np.random.default_rng(1)
    small_m, small_s = _rdms(rng, 12, 3), _rdms(rng, 12, 4)
    big_m, big_s = _rdms(rng, 48, 3), _rdms(rng, 48, 4)
    b1 = stats.bootstrap_scores(small_m, small_s, np.random.default_rng(2), n_boot=200, over=("stimuli",))
    b2 = stats.bootstrap_scores(big_m, big_s, np.random.default_rng(2), n_boot=200, over=("stimuli",), nili=False)
    lo, hi = b1.ci()
    assert (lo <= b1.point).all() and (b1.point <= hi).all()
    np.testing.assert_allclose(b1.point, tau_a(small_m, small_s).mean(1))
    assert np.mean(b2.ci()[1] - b2.ci()[0]) < 0.6 * np.mean(hi - lo)
    again = stats.bootstrap_scores(small_m, small_s, np.random.default_rng(2), n_boot=200, over=("stimuli",))
    np.testing.assert_array_equal(b1.draws, again.draws)
    # Nili bounds bootstrapped with the same resamples
    assert b1.nili_draws.shape == (200, 2) and (b1.nili_draws[:, 0] <= b1.nili_draws[:, 1] + 1e-12).all()


def test_bootstrap_over_subjects_reweights_subject_scores():
    rng = np.random.default_rng(3)
    m, s = _rdms(rng, 15, 2), _rdms(rng, 15, 5, noise=2.0)
    per = tau_a(m, s)
    b = stats.bootstrap_scores(m, s, np.random.default_rng(4), n_boot=200, over=("subjects",), nili=False)
    # every draw is an average of the per-subject scores with multinomial weights
    assert (b.draws >= per.min(1) - 1e-12).all() and (b.draws <= per.max(1) + 1e-12).all()
    assert b.draws.std(0).min() > 0
    one = stats.bootstrap_scores(m, s[:1], np.random.default_rng(4), n_boot=20, over=("subjects",))
    assert np.allclose(one.draws, one.point) and np.isnan(one.nili_point).all()
    with pytest.raises(ValueError, match="over"):
        stats.bootstrap_scores(m, s, np.random.default_rng(0), n_boot=2, over=("seeds",))


def test_percentile_ci_and_bootstrap_p():
    s = np.arange(1, 101, dtype=float)
    lo, hi = stats.percentile_ci(s, 0.9)
    assert lo == pytest.approx(np.quantile(s, 0.05)) and hi == pytest.approx(np.quantile(s, 0.95))
    assert stats.bootstrap_p(s) == pytest.approx(2 / 101)  # all draws above 0
    assert stats.bootstrap_p(s - 50.5) == pytest.approx(1.0)


def test_fdr_matches_hand_computation_and_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.20])
    # sorted 0.01, 0.03, 0.04, 0.20 -> 0.04, 0.06, 0.0533, 0.20 -> monotone 0.04, 0.0533, 0.0533, 0.20
    reject, adj = stats.fdr_bh(p, 0.05)
    np.testing.assert_allclose(adj, [0.04, 0.16 / 3, 0.16 / 3, 0.20])
    assert reject.tolist() == [True, False, False, False]
    rng = np.random.default_rng(5)
    q = rng.random(50) ** 3
    ref = multipletests(q, alpha=0.1, method="fdr_bh")
    r2, a2 = stats.fdr_bh(q, 0.1)
    np.testing.assert_allclose(a2, ref[1])
    assert (r2 == ref[0]).all()
    r3, a3 = stats.fdr_bh(np.array([0.01, np.nan]))
    assert a3[0] == 0.01 and np.isnan(a3[1]) and not r3[1]


def _species_data(effect, rng, n_boot=400):
    layers = [f"l{i}" for i in range(4)]
    species = ["rat"] * 5 + ["treeshrew"] * 5
    true = np.array([0.1, 0.2, 0.3, 0.2])
    point = true + rng.normal(0, 0.005, size=(10, 4))
    point[:5] += effect
    boot = point[None] + rng.normal(0, 0.01, size=(n_boot, 1, 4))  # shared (paired) stimulus noise
    boot = boot + rng.normal(0, 0.003, size=(n_boot, 10, 4))
    return point, boot, species, layers


def test_species_tests_detect_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(6)
    point, boot, species, layers = _species_data(0.05, rng)
    t = stats.add_fdr(stats.species_tests(point, boot, species, layers, np.random.default_rng(0)))
    assert list(t.test) == ["layer"] * 4 + ["best_layer"]
    assert {"ci_low", "ci_high", "p", "p_fdr", "significant", "p_seeds"} <= set(t.columns)
    assert t.significant.all() and (t.difference > 0).all() and (t.ci_low > 0).all()
    best = t[t.test == "best_layer"].iloc[0]
    assert best.layer_a == "l2" and best.layer_b == "l2" and best.best_stability_a > 0.9
    assert t.p_seeds.min() == pytest.approx(2 / 252)  # the most extreme relabeling and its mirror
    point0, boot0, _, _ = _species_data(0.0, np.random.default_rng(7))
    t0 = stats.add_fdr(stats.species_tests(point0, boot0, species, layers, np.random.default_rng(0)))
    assert not t0.significant.any()
    assert ((t0.ci_low <= 0) & (t0.ci_high >= 0)).all()


def test_seed_permutation_exact_small_case():
    x = np.array([[3.0], [2.0], [1.0], [0.0]])
    # relabelings of 2 vs 2: {3,2}|{1,0} d=2, {3,1} d=1... |d| >= 2 twice of 6
    assert stats.seed_permutation_p(x, ["rat", "rat", "treeshrew", "treeshrew"])[0] == pytest.approx(2 / 6)


@pytest.mark.parametrize("ties", [False, True])
def test_weighted_bootstrap_equals_resampling_exactly(ties):
    """The weighted tau-a kernel gives bit-identical draws to materialising every resample."""
    rng = np.random.default_rng(11 + ties)
    for n in (4, 9, 13):
        p = n * (n - 1) // 2
        hi = 4 if ties else 10**6
        m = rng.integers(0, hi, size=(6, p)).astype(float)
        m[0] = 1.0  # a constant RDM (tau-a 0 with anything)
        s = rng.integers(0, 3 if ties else 10**6, size=(3, p)).astype(float)
        for over in (("stimuli",), ("stimuli", "subjects")):
            slow = stats.bootstrap_scores(m, s, np.random.default_rng(n), n_boot=40, over=over, method="resample")
            fast = stats.bootstrap_scores(m, s, np.random.default_rng(n), n_boot=40, over=over)
            np.testing.assert_array_equal(fast.draws, slow.draws)
            np.testing.assert_array_equal(fast.nili_draws, slow.nili_draws)
    # per-draw tau-a against tau_a on the materialised columns
    c = np.array([2, 0, 0, 3, 5, 5, 5, 1, 7])
    counts = np.bincount(c, minlength=9)[None]
    cols = stats.resample_columns(c, 9)
    mm, ss = rng.random((3, 36)), rng.random((2, 36))
    np.testing.assert_array_equal(stats.weighted_tau_draws(mm, ss, counts)[0], tau_a(mm[:, cols], ss[:, cols]))


@pytest.mark.slow
def test_bootstrap_speed_scenes_scale():
    """1000 stimulus draws of 151 models (10 checkpoints x 15 layers + pixel) vs 1 RDM, 118 conditions."""
    rng = np.random.default_rng(8)
    n = 118
    m = rng.random((151, n * (n - 1) // 2))
    s = rng.random((1, n * (n - 1) // 2))
    stats.bootstrap_scores(m[:2], s, np.random.default_rng(0), n_boot=2, over=("stimuli",))  # compile
    t0 = time.perf_counter()
    b = stats.bootstrap_scores(m, s, np.random.default_rng(0), n_boot=1000, over=("stimuli",))
    elapsed = time.perf_counter() - t0
    assert b.draws.shape == (1000, 151)
    slow = stats.bootstrap_scores(m, s, np.random.default_rng(0), n_boot=3, over=("stimuli",), method="resample")
    np.testing.assert_array_equal(slow.draws, b.draws[:3])
    print(f"bootstrap: {elapsed:.1f} s per 1000 draws")
    assert elapsed < 60  # ~10 s on two idle cores; generous for shared machines
