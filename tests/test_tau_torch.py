"""The torch (GPU) tau-a path equals the numba kernel to the bit, run here on the CPU."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from analysis import compare, tau_torch


def brute_inversions(v: np.ndarray) -> int:
    return sum(int(v[i] > v[j]) for i, j in itertools.combinations(range(len(v)), 2))


@pytest.mark.parametrize("m", [1, 2, 3, 7, 8, 9, 33, 100])
def test_strict_inversions_are_brute_force_counts(m):
    rng = np.random.default_rng(m)
    v = rng.integers(0, max(1, m // 3), size=(5, m))  # many ties: ties are not inversions
    got = tau_torch.strict_inversions(torch.from_numpy(v)).numpy()
    assert list(got) == [brute_inversions(row) for row in v]


def rdm_sets(rng: np.random.Generator, m: int) -> list[tuple[np.ndarray, np.ndarray]]:
    cont = rng.random((4, m))
    cat = rng.integers(0, 3, (3, m)).astype(float)  # categorical model RDMs: heavy ties
    coarse = np.round(rng.random((5, m)), 1)  # ties on both sides
    zeros = np.zeros((1, m))
    signed = np.where(rng.random((2, m)) < 0.5, -0.0, 0.0) + (rng.random((2, m)) < 0.3)  # -0.0 ties 0.0
    return [(cont, rng.random((6, m))), (cat, cont), (coarse, coarse[::-1]), (zeros, cont),
            (signed, coarse), (cont[:1], np.concatenate([cont, cat]))]


@pytest.mark.parametrize("n_cond", [4, 13, 40])
def test_torch_tau_a_equals_the_numba_kernel_to_the_bit(n_cond):
    m = n_cond * (n_cond - 1) // 2
    rng = np.random.default_rng(n_cond)
    for a, b in rdm_sets(rng, m):
        want = compare.tau_a(a, b)
        got = tau_torch.tau_a_torch(a, b, device="cpu")
        np.testing.assert_array_equal(got, want)


def test_small_batches_give_the_same_values():
    rng = np.random.default_rng(5)
    a, b = np.round(rng.random((3, 300)), 2), rng.random((7, 300))
    np.testing.assert_array_equal(tau_torch.tau_a_torch(a, b, device="cpu", batch_bytes=1),
                                  compare.tau_a(a, b))


def test_nan_columns_and_shapes_are_validated_as_in_compare():
    a = np.random.default_rng(0).random((2, 10))
    b = a.copy()
    a[:, 3] = np.nan
    b[:, 3] = np.nan
    np.testing.assert_array_equal(tau_torch.tau_a_torch(a, b, device="cpu"), compare.tau_a(a, b))
    with pytest.raises(ValueError):
        tau_torch.tau_a_torch(a[:, :5], b, device="cpu")


def test_backend_choice_and_explicit_torch_backend(monkeypatch):
    rng = np.random.default_rng(8)
    a, b = rng.random((9, 45)), rng.random((8, 45))
    np.testing.assert_array_equal(compare.tau_a(a, b, backend="torch"), compare.tau_a(a, b, backend="numba"))
    monkeypatch.setattr(compare, "_cuda_present", lambda: True)
    assert compare.choose_backend(9, 8) == "torch" and compare.choose_backend(1, 10) == "numba"
    monkeypatch.setattr(compare, "_cuda_present", lambda: False)
    assert compare.choose_backend(100, 100) == "numba"
    with pytest.raises(ValueError, match="backend"):
        compare.tau_a(a, b, backend="cuda")
