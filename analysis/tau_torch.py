"""Exact Kendall tau-a on a torch device: many RDM pairs at once (the CUDA path of tau-a).

:func:`analysis.compare.tau_a` runs numba kernels on the CPU, one pair at a time per
thread. On a GPU all pairs of an area (141 model RDMs x 100 brain RDMs) can run together,
so this module computes the same exact integers with batched torch operations and divides
them once, as the numba kernel does; its results equal :func:`analysis.compare.tau_a` to
the bit (``tests/test_tau_torch.py`` checks that on the CPU, ties and all).

Method (Knight's, like the numba kernel; ``m`` condition pairs per RDM):

* every RDM is ranked once (``torch.sort``; dense ranks; ``n1`` / ``n2`` = pairs tied in it);
* for a pair ``(x, y)`` the positions are ordered by ``rank_x * m + rank_y`` (one sort of
  int64 keys: ties in ``x`` broken by ``y``), which gives ``n3`` (pairs tied in both) and
  the ``y`` ranks in that order;
* the discordant pairs ``n_d`` are the strict inversions of those ranks, counted by a
  bottom-up merge sort whose merges are two batched ``torch.searchsorted`` calls per level
  (``log2 m`` levels, every pair of the batch at once);
* ``tau_a = (n0 - n1 - n2 + n3 - 2 n_d) / n0`` with ``n0 = m (m - 1) / 2``, in float64.

No library offers an exact batched tau-a on GPU (rsatoolbox and scipy compare one pair at a
time on the CPU), hence this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

#: Bytes of device memory one batch of pairs may use (about 10 int64 arrays of ``m`` per pair).
DEFAULT_BATCH_BYTES: int = 2 << 30


def dense_ranks(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense ranks (0 .. distinct - 1) of every row of ``x`` ``(n, m)`` and its tied pairs.

    Returns ``(ranks int64 (n, m), tied_pairs int64 (n,))``. Equality is float ``==``
    (``-0.0`` ties with ``0.0``); NaN must have been removed.
    """
    s, order = torch.sort(x, dim=1, stable=True)
    new = torch.ones_like(s, dtype=torch.bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    dense_sorted = torch.cumsum(new, dim=1, dtype=torch.int64) - 1
    ranks = torch.empty_like(dense_sorted).scatter_(1, order, dense_sorted)
    return ranks, _tied_pairs(dense_sorted)


def _tied_pairs(groups_sorted: torch.Tensor) -> torch.Tensor:
    """Pairs sharing a group, per row of non-decreasing group ids ``(n, m)`` in ``[0, m)``."""
    counts = torch.zeros_like(groups_sorted).scatter_add_(1, groups_sorted, torch.ones_like(groups_sorted))
    return (counts * (counts - 1) // 2).sum(dim=1)


def strict_inversions(v: torch.Tensor) -> torch.Tensor:
    """Pairs ``i < j`` with ``v[i] > v[j]``, per row of ``v`` ``(B, m)`` int64 values in ``[0, m)``.

    Bottom-up merge sort: at width ``w`` every sorted left block of ``w`` values meets its
    right block; each right value adds the left values greater than it, and the two blocks
    are merged by the positions two ``searchsorted`` calls give. Returns int64 ``(B,)``.
    """
    B, m = v.shape
    size = 1 << max(0, (m - 1).bit_length())
    if size > m:  # padded with a value above every rank: pads add no inversion
        v = torch.cat([v, torch.full((B, size - m), m, dtype=v.dtype, device=v.device)], dim=1)
    total = torch.zeros(B, dtype=torch.int64, device=v.device)
    w = 1
    while w < size:
        blocks = v.reshape(-1, 2, w)
        left, right = blocks[:, 0].contiguous(), blocks[:, 1].contiguous()
        n_left_le = torch.searchsorted(left, right, right=True)  # left values <= each right value
        total += (w - n_left_le).reshape(B, -1).sum(dim=1)
        n_right_lt = torch.searchsorted(right, left, right=False)  # right values < each left value
        idx = torch.arange(w, device=v.device)
        merged = torch.empty((blocks.shape[0], 2 * w), dtype=v.dtype, device=v.device)
        merged.scatter_(1, idx + n_right_lt, left)
        merged.scatter_(1, idx + n_left_le, right)
        v = merged.reshape(B, size)
        w *= 2
    return total


def pair_numerators(ra: torch.Tensor, rb: torch.Tensor, ta: torch.Tensor, tb: torch.Tensor) -> torch.Tensor:
    """``n_concordant - n_discordant`` of the row pairs ``(ra[k], rb[k])`` ``(B, m)`` (dense ranks)."""
    m = ra.shape[1]
    keys, _ = torch.sort(ra * m + rb, dim=1)
    joint = torch.ones_like(keys, dtype=torch.bool)
    joint[:, 1:] = keys[:, 1:] != keys[:, :-1]
    n3 = _tied_pairs(torch.cumsum(joint, dim=1, dtype=torch.int64) - 1)
    nd = strict_inversions(keys % m)
    n0 = m * (m - 1) // 2
    return n0 - ta - tb + n3 - 2 * nd


def tau_a_torch(a: Any, b: Any, *, device: torch.device | str | None = None,
                batch_bytes: int = DEFAULT_BATCH_BYTES) -> np.ndarray:
    """Kendall's tau-a between every RDM of ``a`` and of ``b`` on ``device``: ``(n_a, n_b)`` float64.

    Same inputs, validation (NaN columns, shapes) and values as :func:`analysis.compare.tau_a`.
    ``device``: default :func:`analysis.models.select_device` (CUDA when present).
    ``batch_bytes``: device memory one batch of pairs may use.
    """
    from .compare import _validate

    a, b = _validate(a, b)
    return tau_a_validated(a, b, device=device, batch_bytes=batch_bytes)


def tau_a_validated(a: np.ndarray, b: np.ndarray, *, device: torch.device | str | None = None,
                    batch_bytes: int = DEFAULT_BATCH_BYTES) -> np.ndarray:
    """:func:`tau_a_torch` of inputs :func:`analysis.compare.tau_a` has already validated
    (C-contiguous float64 ``(n, m)`` with the NaN columns removed)."""
    if device is None:
        from .models import select_device

        device = select_device()
    n_a, n_b, m = a.shape[0], b.shape[0], a.shape[1]
    out = np.empty((n_a, n_b), np.float64)
    if n_a == 0 or n_b == 0:
        return out
    ra, ta = dense_ranks(torch.from_numpy(a).to(device))
    rb, tb = dense_ranks(torch.from_numpy(b).to(device))
    per_pair = 10 * 8 * (1 << max(0, (m - 1).bit_length()))
    batch = max(1, int(batch_bytes) // per_pair)
    n0 = float(m * (m - 1) // 2)
    pairs = torch.cartesian_prod(torch.arange(n_a), torch.arange(n_b)).to(device)
    res = torch.empty(n_a * n_b, dtype=torch.float64, device=device)
    for k in range(0, n_a * n_b, batch):
        i, j = pairs[k:k + batch, 0], pairs[k:k + batch, 1]
        num = pair_numerators(ra[i], rb[j], ta[i], tb[j])
        res[k:k + batch] = num.to(torch.float64) / n0
    out[:] = res.reshape(n_a, n_b).cpu().numpy()
    return out
