"""Tests of analysis.compare: exact Kendall tau-a, checked against rsatoolbox 0.3.2."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from analysis.compare import rdm_vectors, tau_a, tau_a_rsatoolbox

TOL = 1e-12


def n_pairs(n_cond: int) -> int:
    return n_cond * (n_cond - 1) // 2


def brute_tau_a(x: np.ndarray, y: np.ndarray) -> float:
    """O(m^2) tau-a of two 1-D vectors without NaN: sum of sign products / (m(m-1)/2)."""
    m = x.size
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    return float(np.triu(dx * dy, k=1).sum() / (m * (m - 1) / 2))


def categorical(rng: np.random.Generator, n_rdms: int, n_cond: int, levels: int) -> np.ndarray:
    iu = np.triu_indices(n_cond, k=1)
    out = []
    for _ in range(n_rdms):
        cat = rng.integers(0, levels, n_cond)
        out.append(np.abs(cat[:, None] - cat[None, :]).astype(float)[iu])
    return np.array(out)


def check_exact(a: np.ndarray, b: np.ndarray, **kwargs) -> np.ndarray:
    got = tau_a(a, b, **kwargs)
    ref = tau_a_rsatoolbox(a, b)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)
    return got


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.mark.parametrize("n_cond", [10, 30, 118])
def test_continuous_matches_rsatoolbox(rng, n_cond):
    m = n_pairs(n_cond)
    signal = rng.standard_normal(m)
    a = signal + rng.standard_normal((3, m))
    b = signal + rng.standard_normal((4, m))
    got = check_exact(a, b)
    assert got.shape == (3, 4)


@pytest.mark.parametrize("n_cond", [10, 30, 118])
def test_heavily_tied_matches_rsatoolbox(rng, n_cond):
    m = n_pairs(n_cond)
    models = np.vstack([categorical(rng, 2, n_cond, 2), categorical(rng, 2, n_cond, 3)])
    brains_int = np.round(rng.random((3, m)) * 5)  # integer-rounded brain RDMs
    brains = rng.random((2, m))
    for a, b in [(models, brains_int), (brains_int, models), (models, brains),
                 (models, models), (brains_int, brains_int), (brains, brains_int)]:
        check_exact(a, b)


def test_constant_rdm_and_signed_zero(rng):
    m = n_pairs(12)
    x = rng.random((2, m))
    const = np.ones((1, m))
    assert np.all(check_exact(const, x) == 0.0)
    z = np.round(rng.standard_normal((2, m)))
    z[0, z[0] == 0] = -0.0  # -0.0 and 0.0 tie, as with ==
    check_exact(z, x)
    check_exact(z, z)


def test_values_differing_only_in_low_bits(rng):
    """Values sharing their high 32 bits (short and long runs) are still ordered exactly."""
    m = n_pairs(40)
    base = np.round(rng.random((2, m)) * 100) / 7
    near = base.copy()
    pos = rng.integers(0, m, m // 3)
    near[0, pos] = np.nextafter(near[0, pos], np.inf)
    long_run = 1.0 + rng.integers(0, 6, (1, m)) * 2.0**-40
    other = rng.random((2, m))
    for a in (near, long_run):
        check_exact(a, base)
        check_exact(a, other)
        check_exact(a, a)


def test_infinities_huge_ranges_and_outliers(rng):
    m = n_pairs(30)
    x = rng.standard_normal((4, m))
    x[0, :7] = np.inf
    x[0, 7:10] = -np.inf
    x[1, :3] = [1e308, -1e308, 5e-324]  # range overflows float64
    x[2, :5] = 1e300  # outliers: all other values share few buckets
    x[3] = np.exp(rng.standard_normal(m) * 30)  # values over many binades
    y = np.round(rng.standard_normal((3, m)))
    check_exact(x, y)
    check_exact(x, x)


def test_nan_same_columns_in_both_sets(rng):
    m = n_pairs(20)
    a = rng.random((3, m))
    b = np.round(rng.random((2, m)) * 3)
    cols = rng.choice(m, 15, replace=False)
    a[:, cols] = np.nan
    b[:, cols] = np.nan
    got = check_exact(a, b)
    keep = np.setdiff1d(np.arange(m), cols)
    assert got[1, 0] == pytest.approx(brute_tau_a(a[1, keep], b[0, keep]), abs=TOL)


def test_nan_dropped_across_whole_set(rng):
    """rsatoolbox drops a column NaN in ANY RDM of a set from every comparison."""
    m = n_pairs(20)
    a = rng.random((2, m))
    b = rng.random((2, m))
    a[0, :5] = np.nan  # NaN in a's row 0 ...
    b[1, 3:5] = np.nan  # ... and b's row 1 (same union of columns: 0-4)
    b[0, 0:3] = np.nan
    got = check_exact(a, b)
    # the pair (a[1], b[0]) has no NaN itself, yet columns 0-4 are dropped for it
    assert got[1, 0] == pytest.approx(brute_tau_a(a[1, 5:], b[0, 5:]), abs=TOL)
    assert got[1, 0] != pytest.approx(brute_tau_a(a[1, 3:], b[0, 3:]), abs=TOL)


def test_nan_at_differing_positions_raises_like_rsatoolbox(rng):
    m = n_pairs(10)
    a = rng.random((2, m))
    b = rng.random((2, m))
    a[0, 3] = np.nan
    b[1, 7] = np.nan
    with pytest.raises(ValueError, match="different nan positions"):
        tau_a_rsatoolbox(a, b)
    with pytest.raises(ValueError, match="different NaN positions"):
        tau_a(a, b)


def test_all_but_one_column_nan_raises(rng):
    a = rng.random((1, 6))
    a[0, 1:] = np.nan
    with pytest.raises(ValueError, match="at least 2 columns without NaN"):
        tau_a(a, a)


def test_identical_and_reversed(rng):
    x = rng.random((1, n_pairs(50)))
    assert tau_a(x, x)[0, 0] == 1.0
    assert tau_a(x, -x)[0, 0] == -1.0
    assert tau_a(x, x[:, ::-1].copy())[0, 0] == pytest.approx(brute_tau_a(x[0], x[0, ::-1]))


def test_symmetry(rng):
    m = n_pairs(30)
    a = np.vstack([rng.random((2, m)), categorical(rng, 2, 30, 3)])
    b = np.vstack([np.round(rng.random((3, m)) * 4), categorical(rng, 1, 30, 2)])
    np.testing.assert_array_equal(tau_a(a, b), tau_a(b, a).T)


def test_invariant_under_monotone_transforms(rng):
    m = n_pairs(25)
    a = rng.random((2, m))
    b = np.round(rng.random((3, m)) * 6)
    ref = tau_a(a, b)
    np.testing.assert_array_equal(tau_a(np.exp(3 * a) - 7, b), ref)
    np.testing.assert_array_equal(tau_a(a, b**3 + 2 * b), ref)
    np.testing.assert_array_equal(tau_a(np.log1p(a), np.sqrt(b)), ref)
    np.testing.assert_array_equal(tau_a(-a, -b), ref)
    np.testing.assert_array_equal(tau_a(-a, b), -ref)


@pytest.mark.parametrize("seed", range(6))
def test_brute_force_tiny(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 30))
    a = np.vstack([rng.random(m), rng.integers(0, 3, m), np.zeros(m), rng.integers(0, 2, m)])
    b = np.vstack([rng.integers(0, 4, m), rng.random(m), rng.integers(0, 2, m)]).astype(float)
    got = tau_a(a, b)
    want = np.array([[brute_tau_a(x, y) for y in b] for x in a])
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_shapes_and_1d_input(rng):
    m = n_pairs(8)
    a = rng.random((5, m))
    b = rng.random((2, m))
    assert tau_a(a, b).shape == (5, 2)
    assert tau_a(b, a).shape == (2, 5)
    assert tau_a(a[0], b).shape == (1, 2)
    assert tau_a(a[0], b[1]).shape == (1, 1)
    np.testing.assert_array_equal(tau_a(a[0], b), tau_a(a[:1], b))
    assert tau_a(a[:0], b).shape == (0, 2)
    assert tau_a(a[0].astype(np.float32), b).shape == (1, 2)
    np.testing.assert_array_equal(tau_a(np.asfortranarray(a), b), tau_a(a, b))


def test_threads_give_identical_results(rng):
    m = n_pairs(40)
    a = categorical(rng, 3, 40, 3)
    b = rng.random((7, m))
    np.testing.assert_array_equal(tau_a(a, b, n_threads=1), tau_a(a, b, n_threads=2))
    with pytest.raises(ValueError, match="n_threads"):
        tau_a(a, b, n_threads=0)


def test_rsatoolbox_rdms_objects(rng):
    from rsatoolbox.rdm import RDMs

    m = n_pairs(15)
    a = RDMs(dissimilarities=rng.random((2, m)))
    b = RDMs(dissimilarities=np.round(rng.random((3, m)) * 3))
    np.testing.assert_array_equal(rdm_vectors(a), a.get_vectors())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_exact(a, b)


@pytest.mark.parametrize(
    "a_shape, b_shape, match",
    [
        ((2, 10), (3, 11), r"same number of columns.*\(2, 10\).*\(3, 11\)"),
        ((2, 3, 4), (2, 12), r"2-D.*\(2, 3, 4\)"),
        ((), (1, 5), r"2-D.*\(\)"),
        ((3, 1), (2, 1), r"at least 2 columns.*\(3, 1\)"),
    ],
)
def test_validation_errors(a_shape, b_shape, match):
    with pytest.raises(ValueError, match=match):
        tau_a(np.ones(a_shape), np.ones(b_shape))


def test_jit_falls_back_when_no_cache_dir_is_writable(monkeypatch):
    import numba

    from analysis import compare

    real_njit = numba.njit

    def njit_without_locator(*args, cache=False, **kwargs):
        if cache:
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x'")
        return real_njit(*args, **kwargs)

    monkeypatch.setattr(compare.numba, "njit", njit_without_locator)
    with pytest.warns(RuntimeWarning, match="NUMBA_CACHE_DIR"):
        f = compare._jit()(lambda x: x + 1)
    assert f(1) == 2


@pytest.mark.parametrize("shape", [(60, 50), (2, 118, 300), (1, 200, 4096)])
def test_correlation_rdms_equal_rsatoolbox(shape):
    from analysis import rdm
    from analysis.compare import correlation_rdms

    x = np.random.default_rng(11).standard_normal(shape).astype(np.float32)
    x[..., 3, :] = x[..., 5, :]  # a duplicated condition: exact zero distances
    ref = rdm.calc_rdms(x)  # rsatoolbox calc_rdm(method="correlation")
    fast = correlation_rdms(x)
    assert fast.shape == ref.shape and fast.dtype == np.float64
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="at least 3 conditions"):
        correlation_rdms(x[..., :2, :])


def test_untied_pairs_use_the_bitset_counter_and_stay_exact():
    """Both RDMs continuous (ranks are permutations): the chunked bitset counter."""
    from analysis import compare

    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 1770))  # 60 conditions: 28 words of 64 bits
    b = 0.5 * a[:1] + rng.standard_normal((3, 1770))
    assert all(len(np.unique(r)) == r.size for r in np.vstack([a, b]))
    np.testing.assert_array_equal(tau_a(a, b), tau_a_rsatoolbox(a, b))
    # the kernel itself against a brute-force inversion count, at sizes around the
    # chunk boundaries (64-position sub-chunks, 4096-position chunks) and with a
    # sorted, a reversed and a random permutation
    chunk = compare._PERM_CHUNK
    for n in (1, 2, 63, 64, 65, 1000, chunk - 1, chunk, chunk + 1, 2 * chunk + 77):
        vals = rng.permutation(n).astype(np.int32)
        for order in (np.argsort(vals).astype(np.int32), np.argsort(-vals).astype(np.int32),
                      rng.permutation(n).astype(np.int32)):
            seq = vals[order]
            brute = int(sum((seq[i] > seq[i + 1:]).sum() for i in range(seq.size)))
            assert compare._inversions_perm(vals, order, *compare._perm_scratch(n)) == brute, n
        assert compare._inversions_perm(vals, np.argsort(-vals).astype(np.int32),
                                        *compare._perm_scratch(n)) == n * (n - 1) // 2
