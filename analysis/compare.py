"""Exact, fast Kendall tau-a between sets of vectorised RDMs.

``tau_a(a, b)`` returns the ``(len(a), len(b))`` matrix of Kendall's tau-a
between every row of ``a`` and every row of ``b``; it equals rsatoolbox 0.3.2's
``rsatoolbox.rdm.compare(rdm1, rdm2, method='tau-a')`` to the last bit (the
numerator and denominator are the same exact integers, divided once).

Inputs
------
``a``: ``(n_a, n_pairs)`` and ``b``: ``(n_b, n_pairs)`` float arrays of vectorised
RDMs, i.e. the upper triangles in rsatoolbox's order (``RDMs.get_vectors()``),
``n_pairs = n_cond * (n_cond - 1) / 2``; a 1-D array is one RDM.  Values are
dissimilarities in any unit (only their order matters).  rsatoolbox ``RDMs``
objects are accepted too (their ``get_vectors()`` is used).

Semantics replicated from rsatoolbox 0.3.2 (``rsatoolbox/rdm/compare.py``:
``compare_kendall_tau_a``, ``_parse_input_rdms``, ``_tau_a``)
-------------------------------------------------------------------------------
* **NaN handling is per set, not per pair.**  A column (condition pair) that is
  NaN in *any* RDM of ``a`` is dropped from *every* comparison; the same holds
  for ``b``.  The two sets must have the same NaN columns, otherwise a
  ``ValueError`` is raised (rsatoolbox: "rdm1 and rdm2 have different nan
  positions").  Quirk: the tau-a of ``a[i]`` and ``b[j]`` therefore depends on
  where the *other* RDMs of the sets have NaNs, and a NaN present in ``a`` only
  (even in a row that is otherwise irrelevant) is an error.
* **Ties count zero.**  With ``m`` remaining columns,
  ``tau_a = (n_concordant - n_discordant) / (m (m - 1) / 2)``, where a pair of
  columns tied in either RDM is neither concordant nor discordant.  In Knight's
  terms ``n_c - n_d = n0 - n1 - n2 + n3 - 2 n_d`` (``n0 = m(m-1)/2``, ``n1`` and
  ``n2`` pairs tied in ``a`` resp. ``b``, ``n3`` tied in both).  Equality is the
  float ``==`` (so ``-0.0`` ties with ``0.0``); ``+-inf`` are ordinary values.
  A constant RDM has tau-a 0 with anything.
* rsatoolbox clips tau to ``[-1, 1]``; with exact integer counts this never
  changes a value, so it is not done here.
* Degenerate input: with fewer than 2 columns left after removing NaN columns
  rsatoolbox divides 0 by 0 and, through its clipping, returns ``-1.0`` (with a
  RuntimeWarning).  Here that raises ``ValueError`` instead (deliberate
  difference).
* Inputs are converted to float64 (exact for float16/32 and for integers below
  2**53, so the order and ties are unchanged).

Algorithm
---------
Each RDM is ranked once: a bucket sort (bucket ``floor((x - min) * scale)``
in [0, 2**22), monotone in x, sorted by a 2-pass LSD radix sort; runs sharing a
bucket are then sorted by an exact order-preserving 64-bit integer key of each
float), dense ranks, and the number of tied pairs (``n1`` / ``n2``).  For a pair of RDMs, the one with more distinct
values is the *primary*: positions are ordered by the primary's rank with ties
broken by the secondary's rank (a gather when the primary is untied, otherwise
an O(m) counting-sort scatter in the secondary's precomputed order), which also
yields ``n3``.  The discordant pairs ``n_d`` are then the inversions of the
secondary's ranks in that order, counted with a Fenwick tree over the
secondary's ``k`` distinct values (tiny and cache-resident for categorical
model RDMs; measured faster than a merge sort even for ``k = m``).  When both
RDMs are untied (continuous, e.g. per-frame model vs brain RDMs) the ranks are
permutations and the Fenwick tree is replaced by a chunked bitset counter
(:func:`_inversions_perm`): the positions are cut into chunks of 4096; a bitset
of the values seen so far (m/8 bytes) with per-word prefix counts, recomputed
once per chunk, gives each position's inversions with all earlier chunks in O(1)
(one popcount), and the chunk's local ranks are counted the same way one level
down (chunks of 64, then one 64-bit word).  Everything stays in L1/L2 cache at
m = 404,550 with no data-dependent branch (~4x faster than a Fenwick tree over
all m values, ~2x faster than one over the bitset's words).  Cost:
O(m log m) per RDM plus O(m log k) per pair.  The set with fewer RDMs is ranked
up front and kept; the RDMs of the other set are streamed, in parallel over
``n_threads`` numba threads, each ranked once into per-thread scratch (allocated
once per call, so no multi-MB allocation per RDM or pair) and compared with
every kept RDM.

Numba kernels are compiled with ``cache=True`` (cache in ``__pycache__`` beside
this file, or numba's user-wide cache dir when that is read-only, or
``$NUMBA_CACHE_DIR``); if no cache location is writable they are compiled
without caching (a one-off ~10 s per process).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numba
from numba.extending import intrinsic
import numpy as np

__all__ = ["tau_a", "tau_a_rsatoolbox", "rdm_vectors", "correlation_rdms"]

_RADIX_BITS = 11
_SMALL_RUN = 32  # runs sharing a bucket up to this long: insertion sort
_INT32_MAX = np.iinfo(np.int32).max


def _jit(**options: Any):
    """``numba.njit(cache=True, **options)``, without the cache when no cache dir is writable."""

    def decorate(func):
        try:
            return numba.njit(cache=True, **options)(func)
        except RuntimeError as exc:  # "cannot cache function ...: no locator available"
            warnings.warn(
                f"numba cannot cache {func.__name__} ({exc}); compiling it in every process. "
                "Set NUMBA_CACHE_DIR to a writable folder to cache it.",
                RuntimeWarning,
                stacklevel=2,
            )
            return numba.njit(cache=False, **options)(func)

    return decorate


# --------------------------------------------------------------------------------------
# Ranking (once per RDM)
# --------------------------------------------------------------------------------------


@_jit(inline="always")
def _float_key(u):
    """Order-preserving uint64 key of a float64 bit pattern (``-0.0`` maps to ``0.0``)."""
    sign = np.uint64(1) << np.uint64(63)
    if u == sign:
        u = np.uint64(0)
    if u & sign:
        return ~u
    return u | sign


@_jit()
def _rank_one(x, bits, ranks, perm, sorted_ranks, k1, k2, hist):
    """Rank one row.

    x: (m,) float64 values (no NaN) and bits: (m,) the same memory viewed as
    uint64.  Writes ranks (m,) dense rank of every position and perm (m,)
    positions in ascending order; for a row with ties also sorted_ranks (m,) =
    ranks[perm] (left untouched otherwise, it would be arange(m)).  k1, k2: (m,)
    uint64 scratch; hist: (2, 2048) int64 scratch.  Returns (n_levels, n_tied_pairs).

    Bucket sort: each value gets a bucket ``floor((x - min) * scale)`` in
    [0, 2**22), which is non-decreasing in x (IEEE subtraction and
    multiplication by a positive constant are monotone), positions are sorted by
    bucket with a 2-pass LSD radix sort of ``bucket << 32 | position``, and runs
    sharing a bucket are then sorted by the exact order-preserving integer key
    of the float.
    """
    m = x.shape[0]
    nbins = 1 << _RADIX_BITS
    mask = np.uint64(nbins - 1)
    low = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    top = np.float64((1 << (2 * _RADIX_BITS)) - 1)
    small_k = np.empty(_SMALL_RUN, np.uint64)
    small_i = np.empty(_SMALL_RUN, np.uint64)
    lo = np.inf
    hi = -np.inf
    for i in range(m):
        v = x[i]
        if v < lo and v != -np.inf:
            lo = v
        if v > hi and v != np.inf:
            hi = v
    half_lo = 0.5 * lo
    scale = 0.0
    if hi > lo:
        scale = top / (0.5 * hi - half_lo)
        if not np.isfinite(scale):
            scale = 0.0
    hist[:, :] = 0
    for i in range(m):
        v = x[i]
        if v == np.inf:
            d = np.uint64(top)
        elif v == -np.inf:
            d = np.uint64(0)
        else:
            f = (0.5 * v - half_lo) * scale
            if f <= 0.0:
                d = np.uint64(0)
            elif f >= top:
                d = np.uint64(top)
            else:
                d = np.uint64(f)
        k1[i] = (d << s32) | np.uint64(i)
        hist[0, np.int64(d & mask)] += 1
        hist[1, np.int64(d >> np.uint64(_RADIX_BITS))] += 1
    src = k1
    dst = k2
    for p in range(2):
        skip = False
        for d in range(nbins):
            if hist[p, d] == m:
                skip = True
                break
            if hist[p, d] != 0:
                break
        if skip:
            continue
        total = 0
        for d in range(nbins):
            c = hist[p, d]
            hist[p, d] = total
            total += c
        shift = np.uint64(32 + p * _RADIX_BITS)
        for i in range(m):
            u = src[i]
            d = np.int64((u >> shift) & mask)
            j = hist[p, d]
            hist[p, d] = j + 1
            dst[j] = u
        src, dst = dst, src
    # runs sharing a bucket: sort by the full key, then dense ranks
    g = -1
    ties = 0
    pos = 0
    while pos < m:
        hi = src[pos] >> s32
        end = pos + 1
        while end < m and (src[end] >> s32) == hi:
            end += 1
        if end - pos == 1:
            g += 1
            idx = np.int64(src[pos] & low)
            perm[pos] = idx
            ranks[idx] = g
        else:
            size = end - pos
            # dst[0:size] <- full keys of the run, in run order
            kmin = _float_key(bits[np.int64(src[pos] & low)])
            kmax = kmin
            for q in range(size):
                kk = _float_key(bits[np.int64(src[pos + q] & low)])
                dst[q] = kk
                kmin = min(kmin, kk)
                kmax = max(kmax, kk)
            if kmin == kmax:  # one tied value
                g += 1
                for q in range(size):
                    idx = np.int64(src[pos + q] & low)
                    perm[pos + q] = idx
                    ranks[idx] = g
                ties += (size * (size - 1)) // 2
                pos = end
                continue
            if size <= _SMALL_RUN:  # insertion sort of (key, position) pairs
                for q in range(size):
                    kk = dst[q]
                    ix = src[pos + q] & low
                    w = q - 1
                    while w >= 0 and small_k[w] > kk:
                        small_k[w + 1] = small_k[w]
                        small_i[w + 1] = small_i[w]
                        w -= 1
                    small_k[w + 1] = kk
                    small_i[w + 1] = ix
                for q in range(size):
                    dst[q] = small_k[q]
                    src[pos + q] = small_i[q]
            else:  # rare: long run sharing a bucket (allocates)
                order = np.argsort(dst[:size], kind="mergesort")
                keys = dst[:size][order]
                ixs = np.empty(size, np.uint64)
                for q in range(size):
                    ixs[q] = src[pos + order[q]] & low
                for q in range(size):
                    dst[q] = keys[q]
                    src[pos + q] = ixs[q]
            prev = dst[0]
            g += 1
            run = 0
            for q in range(size):
                kk = dst[q]
                if q > 0:
                    if kk != prev:
                        g += 1
                        run = 0
                    else:
                        run += 1
                        ties += run
                prev = kk
                idx = np.int64(src[pos + q] & low)
                perm[pos + q] = idx
                ranks[idx] = g
        pos = end
    if g + 1 < m:
        for q in range(m):
            sorted_ranks[q] = ranks[perm[q]]
    return g + 1, ties


@_jit(parallel=True)
def _rank_rows(x, bits, ranks, perm, sorted_ranks, n_levels, n_ties, n_threads):
    """Rank every row of x (n, m) float64 (bits: its uint64 view); outputs (n, m) int32, (n,) int64."""
    n, m = x.shape
    for t in numba.prange(n_threads):
        k1 = np.empty(m, np.uint64)
        k2 = np.empty(m, np.uint64)
        hist = np.empty((2, 1 << _RADIX_BITS), np.int64)
        for r in range(t, n, n_threads):
            lv, tt = _rank_one(x[r], bits[r], ranks[r], perm[r], sorted_ranks[r], k1, k2, hist)
            n_levels[r] = lv
            n_ties[r] = tt


# --------------------------------------------------------------------------------------
# Discordant pairs (per pair of RDMs)
# --------------------------------------------------------------------------------------


@_jit()
def _inversions(values, order, k, tree):
    """Inversions of values[order[i]] (i = 0..m-1): pairs i < j with values[order[i]] > values[order[j]].

    values: (m,) int32 in [0, k); order: (m,) int32 permutation or None for the
    identity; tree: >= k + 1 int32 scratch (Fenwick tree).
    """
    m = values.shape[0]
    inv = 0
    if k <= 1:
        return inv
    if k == 2:  # binary RDMs (e.g. same / different category): branch-free count
        ones = 0
        for i in range(m):
            v = values[i] if order is None else values[order[i]]
            inv += ones * (1 - v)
            ones += v
        return inv
    for i in range(k + 1):
        tree[i] = 0
    for i in range(m):
        v = (values[i] if order is None else values[order[i]]) + 1
        s = 0  # previous elements <= value
        j = v
        while j > 0:
            s += tree[j]
            j -= j & (-j)
        inv += i - s
        j = v
        while j <= k:
            tree[j] += 1
            j += j & (-j)
    return inv


@intrinsic
def _ctpop(typingctx, x):
    """Number of set bits of an integer: LLVM's ``ctpop`` (one POPCNT instruction on x86-64).

    numba exposes no popcount; this one-line intrinsic is the standard way to reach
    an LLVM intrinsic from numba (``numba.extending.intrinsic``).
    """
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return x(x), codegen


#: Positions per top-level chunk of the permutation inversion counter (a multiple of 64).
_PERM_CHUNK = 4096


@_jit()
def _perm_chunk_pass(vals, c0, c1, seen, cb, pref, pcb, total, loc):
    """One chunk ``vals[c0:c1]`` of a permutation: its inversions with earlier positions.

    ``seen``: bitset of the values at positions ``< c0`` (``total`` of them) and
    ``pref[w]``: number of those in words ``< w``.  Returns the number of pairs
    (i < c0 <= j < c1) with ``vals[i] > vals[j]`` and writes the chunk's local ranks
    (0 .. c1 - c0 - 1, the order of ``vals`` within the chunk) to ``loc``.  On return
    ``seen`` and ``pref`` also count the chunk's values and ``cb`` is all zero
    (``pcb``: per-word scratch).  O(1) per position (two popcounts, no data-dependent
    branch) plus two O(len(seen)) passes.
    """
    one = np.uint64(1)
    nw = seen.shape[0]
    inv = np.int64(0)
    for i in range(c0, c1):
        v = vals[i]
        w = v >> 6
        bit = one << np.uint64(v & 63)
        inv += total - (pref[w] + _ctpop(seen[w] & (bit - one)))  # seen values > v
        cb[w] |= bit
    acc = np.int64(0)
    for w in range(nw):  # the chunk's own values: prefix counts give local ranks
        pcb[w] = acc
        acc += _ctpop(cb[w])
    for i in range(c0, c1):
        v = vals[i]
        w = v >> 6
        bit = one << np.uint64(v & 63)
        loc[i - c0] = pcb[w] + _ctpop(cb[w] & (bit - one))
    for w in range(nw):
        pref[w] += pcb[w]
        seen[w] |= cb[w]
        cb[w] = 0
    return inv


@_jit()
def _inversions_small(loc, n, bits, ints, loc2):
    """Inversions of a permutation ``loc[:n]`` of ``0 .. n-1`` with ``n <= 4096``.

    Chunks of 64 positions: inversions across chunks by :func:`_perm_chunk_pass`
    over a bitset of ``ceil(n / 64)`` words, inside a chunk with one 64-bit word.
    bits: >= 128 uint64, ints: >= 128 int64, loc2: >= 64 int64 scratch.
    """
    one = np.uint64(1)
    nw = (n + 63) >> 6
    seen, cb = bits[:nw], bits[64:64 + nw]
    pref, pcb = ints[:nw], ints[64:64 + nw]
    for w in range(nw):
        seen[w] = 0
        cb[w] = 0
        pref[w] = 0
    inv = np.int64(0)
    for c0 in range(0, n, 64):
        c1 = min(c0 + 64, n)
        inv += _perm_chunk_pass(loc, c0, c1, seen, cb, pref, pcb, np.int64(c0), loc2)
        word = np.uint64(0)
        for i in range(c1 - c0):
            r = np.uint64(loc2[i])
            inv += _ctpop(word >> r)  # earlier positions of the chunk with larger rank
            word |= one << r
    return inv


@_jit()
def _inversions_perm(values, order, bits, ints):
    """Inversions of ``values[order[i]]`` when ``values`` is a permutation of 0..m-1 (no ties).

    Written by hand because no library counts permutation inversions this way.  The
    positions are cut into chunks of :data:`_PERM_CHUNK`; a bitset of the values seen
    before a chunk (m/8 bytes) and its per-word prefix counts (updated once per
    chunk, O(m/64)) give each position's inversions with all earlier chunks in O(1);
    the chunk's local ranks (from the same prefix trick) are a permutation of at most
    4096 values whose inversions :func:`_inversions_small` counts the same way one
    level down.  Every step is a sequential pass or an L1/L2-resident lookup with one
    popcount: ~2x faster than a Fenwick tree over the bitset's words at m = 404,550
    (the previous kernel), ~3x faster than a Fenwick tree over all m values.
    Scratch (:func:`_perm_scratch`): bits >= 2 * ceil(m / 64) + 128 uint64, ints >=
    2 * ceil(m / 64) + 2 * _PERM_CHUNK + 192 int64.
    """
    m = values.shape[0]
    nw = (m + 63) >> 6
    seen, cb, bits1 = bits[:nw], bits[nw:2 * nw], bits[2 * nw:2 * nw + 128]
    pref, pcb = ints[:nw], ints[nw:2 * nw]
    chunk = ints[2 * nw:2 * nw + _PERM_CHUNK]
    loc = ints[2 * nw + _PERM_CHUNK:2 * nw + 2 * _PERM_CHUNK]
    ints1 = ints[2 * nw + 2 * _PERM_CHUNK:2 * nw + 2 * _PERM_CHUNK + 128]
    loc2 = ints[2 * nw + 2 * _PERM_CHUNK + 128:]
    for w in range(nw):
        seen[w] = 0
        cb[w] = 0
        pref[w] = 0
    inv = np.int64(0)
    for c0 in range(0, m, _PERM_CHUNK):
        c1 = min(c0 + _PERM_CHUNK, m)
        for i in range(c0, c1):  # the gather, once
            chunk[i - c0] = values[order[i]]
        inv += _perm_chunk_pass(chunk, 0, c1 - c0, seen, cb, pref, pcb, np.int64(c0), loc)
        inv += _inversions_small(loc, c1 - c0, bits1, ints1, loc2)
    return inv


@_jit()
def _perm_scratch(m):
    """Scratch arrays ``(bits, ints)`` of :func:`_inversions_perm` for RDMs of ``m`` pairs."""
    nw = (m + 63) >> 6
    return np.empty(2 * nw + 128, np.uint64), np.empty(2 * nw + 2 * _PERM_CHUNK + 192, np.int64)


@_jit()
def _pair_numerator(rp, pp, srp, kp, tp, rs, ps, srs, ks, ts, seq, buf, off, bits, ints):
    """n_concordant - n_discordant of one pair; p = primary (more levels), s = secondary."""
    m = rp.shape[0]
    n3 = 0
    if kp == m and ks == m:  # both untied (continuous RDMs): ranks are permutations
        nd = _inversions_perm(rs, pp, bits, ints)
    elif kp == m:  # primary untied: secondary ranks in primary order, no joint ties
        nd = _inversions(rs, pp, ks, buf)
    else:
        for pos in range(m):
            if pos == 0 or srp[pos] != srp[pos - 1]:
                off[srp[pos]] = pos
        # stable counting sort by primary rank of positions taken in secondary order
        for j in range(m):
            g = rp[ps[j]]
            q = off[g]
            seq[q] = srs[j]
            off[g] = q + 1
        run = 0
        for pos in range(1, m):
            if srp[pos] == srp[pos - 1] and seq[pos] == seq[pos - 1]:
                run += 1
                n3 += run
            else:
                run = 0
        nd = _inversions(seq, None, ks, buf)
    n0 = (np.int64(m) * (m - 1)) // 2
    return n0 - tp - ts + n3 - 2 * nd


@_jit(parallel=True)
def _tau_stream(x, bits, ra, pa, sra, ka, ta, out, n_threads):
    """tau-a of every streamed row against every stored (pre-ranked) row.

    x: (ns, m) float64 streamed RDMs (bits: their uint64 view); each is ranked once,
    into per-thread scratch, and compared with all stored RDMs before the next.
    ra, pa, sra: (na, m) int32 ranks, order and sorted ranks of the stored RDMs;
    ka, ta: (na,) int64 distinct values and tied pairs.  out: (ns, na) float64.
    """
    ns, m = x.shape
    na = ra.shape[0]
    n0 = (np.int64(m) * (m - 1)) // 2
    for t in numba.prange(n_threads):
        rr = np.empty(m, np.int32)
        pr = np.empty(m, np.int32)
        sr = np.empty(m, np.int32)
        k1 = np.empty(m, np.uint64)
        k2 = np.empty(m, np.uint64)
        hist = np.empty((2, 1 << _RADIX_BITS), np.int64)
        seq = np.empty(m, np.int32)
        buf = np.empty(m + 2, np.int32)
        pbits, pints = _perm_scratch(m)
        off = np.empty(m, np.int32)
        for r in range(t, ns, n_threads):
            kr, tr = _rank_one(x[r], bits[r], rr, pr, sr, k1, k2, hist)
            for i in range(na):
                if kr >= ka[i]:
                    num = _pair_numerator(rr, pr, sr, kr, tr,
                                          ra[i], pa[i], sra[i], ka[i], ta[i], seq, buf, off, pbits, pints)
                else:
                    num = _pair_numerator(ra[i], pa[i], sra[i], ka[i], ta[i],
                                          rr, pr, sr, kr, tr, seq, buf, off, pbits, pints)
                out[r, i] = np.float64(num) / np.float64(n0)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def rdm_vectors(rdms: Any) -> np.ndarray:
    """Vectorised RDMs, ``(n_rdms, n_pairs)`` float64, from an rsatoolbox ``RDMs`` or an array.

    A 1-D array is returned as one row.
    """
    if hasattr(rdms, "get_vectors"):
        rdms = rdms.get_vectors()
    vec = np.asarray(rdms, dtype=np.float64)
    if vec.ndim == 1:
        vec = vec.reshape(1, -1)
    return vec


def _as_rows(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "get_vectors"):
        x = x.get_vectors()
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (n_rdms, n_pairs) array of vectorised RDMs or a 1-D "
            f"vector; got shape {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
            or arr.dtype == np.bool_):
        raise ValueError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    return np.asarray(arr, dtype=np.float64)


def _validate(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = _as_rows(a, "a")
    b = _as_rows(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"a and b must have the same number of columns (condition pairs); "
            f"got a.shape={a.shape}, b.shape={b.shape}"
        )
    if a.shape[1] < 2:
        raise ValueError(
            f"tau-a needs at least 2 columns (condition pairs); got a.shape={a.shape}, "
            f"b.shape={b.shape}"
        )
    # column minimum is NaN iff the column holds a NaN (no (n, m) temporary)
    nan_a = np.isnan(a.min(axis=0)) if a.shape[0] else np.zeros(a.shape[1], bool)
    nan_b = np.isnan(b.min(axis=0)) if b.shape[0] else np.zeros(b.shape[1], bool)
    if not np.array_equal(nan_a, nan_b):
        only_a = np.flatnonzero(nan_a & ~nan_b)
        only_b = np.flatnonzero(nan_b & ~nan_a)
        raise ValueError(
            "a and b have different NaN positions (rsatoolbox refuses these too): "
            f"{only_a.size} columns are NaN only in a (first: {only_a[:5].tolist()}), "
            f"{only_b.size} only in b (first: {only_b[:5].tolist()}); shapes a={a.shape}, "
            f"b={b.shape}"
        )
    if nan_a.any():
        keep = ~nan_a
        a = a[:, keep]
        b = b[:, keep]
        if a.shape[1] < 2:
            raise ValueError(
                f"tau-a needs at least 2 columns without NaN; {int(keep.sum())} of "
                f"{keep.size} remain (a.shape={a.shape}, b.shape={b.shape})"
            )
    if a.shape[1] > _INT32_MAX - 1:
        raise ValueError(f"too many columns for the int32 kernels: {a.shape[1]}")
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def _rank(x: np.ndarray, n_threads: int):
    n, m = x.shape
    bits = x.view(np.uint64)  # x is C-contiguous float64; -0.0 is handled in the kernel
    ranks = np.empty((n, m), np.int32)
    perm = np.empty((n, m), np.int32)
    sorted_ranks = np.empty((n, m), np.int32)
    n_levels = np.empty(n, np.int64)
    n_ties = np.empty(n, np.int64)
    if n:
        _rank_rows(x, bits, ranks, perm, sorted_ranks, n_levels, n_ties, max(1, min(n_threads, n)))
    return ranks, perm, sorted_ranks, n_levels, n_ties


def _resolve_threads(n_threads: int | None) -> int:
    if n_threads is None:
        return int(numba.get_num_threads())
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer or None; got {n_threads!r}")
    return int(min(n_threads, numba.config.NUMBA_NUM_THREADS))


#: Backends of :func:`tau_a` (both exact, with the same values to the bit).
BACKENDS: tuple[str, ...] = ("numba", "torch")
#: Fewest pairs for which the automatic choice sends tau-a to a CUDA device.
GPU_MIN_PAIRS: int = 64


@functools.lru_cache(maxsize=1)
def _cuda_present() -> bool:
    from .models import select_device

    return select_device().type == "cuda"


def choose_backend(n_a: int, n_b: int) -> str:
    """``"torch"`` when a CUDA device is present and there are :data:`GPU_MIN_PAIRS` pairs or more, else ``"numba"``."""
    return "torch" if n_a * n_b >= GPU_MIN_PAIRS and _cuda_present() else "numba"


def tau_a(a: Any, b: Any, *, n_threads: int | None = None, backend: str | None = None) -> np.ndarray:
    """Kendall's tau-a between every RDM of ``a`` and every RDM of ``b``.

    Args:
        a: ``(n_a, n_pairs)`` vectorised RDMs (rsatoolbox order), a 1-D vector
            (one RDM) or an rsatoolbox ``RDMs``.
        b: ``(n_b, n_pairs)`` likewise, with the same ``n_pairs``.
        n_threads: numba threads to use (default: ``numba.get_num_threads()``,
            capped at ``NUMBA_NUM_THREADS``).
        backend: ``"numba"`` (these CPU kernels), ``"torch"``
            (:func:`analysis.tau_torch.tau_a_torch` on the process's device), or None:
            :func:`choose_backend` (the GPU when CUDA is present). Both give the same bits.

    Returns:
        ``(n_a, n_b)`` float64 array of tau-a in ``[-1, 1]``, identical to
        ``rsatoolbox.rdm.compare(a, b, method='tau-a')`` (see the module
        docstring for the NaN and tie rules).

    Raises:
        ValueError: input not 1-D/2-D, different ``n_pairs``, fewer than 2
            columns (before or after dropping NaN columns), different NaN
            columns in ``a`` and ``b``, non-numeric dtype, bad ``n_threads``.
    """
    threads = _resolve_threads(n_threads)
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS} or None; got {backend!r}")
    a, b = _validate(a, b)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.empty((a.shape[0], b.shape[0]), np.float64)
    if (backend or choose_backend(a.shape[0], b.shape[0])) == "torch":
        from .tau_torch import tau_a_validated

        return tau_a_validated(a, b)
    # Rank the side with fewer RDMs once and keep it; stream the other side.
    transpose = b.shape[0] < a.shape[0]
    stored, streamed = (b, a) if transpose else (a, b)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        ranked = _rank(stored, threads)
        res = np.empty((streamed.shape[0], stored.shape[0]), np.float64)
        _tau_stream(streamed, streamed.view(np.uint64), *ranked, res,
                    max(1, min(threads, streamed.shape[0])))
    finally:
        numba.set_num_threads(previous)
    out = res if transpose else np.ascontiguousarray(res.T)
    return out


def tau_a_rsatoolbox(a: Any, b: Any) -> np.ndarray:
    """Reference: ``rsatoolbox.rdm.compare(RDMs(a), RDMs(b), method='tau-a')``, ``(n_a, n_b)``.

    Slow (a Python loop over pairs, each O(m log m)); for tests and benchmarks.
    """
    from rsatoolbox.rdm import RDMs, compare

    def as_rdms(x: Any):
        if hasattr(x, "get_vectors"):
            return x
        return RDMs(dissimilarities=rdm_vectors(x))

    return np.asarray(compare(as_rdms(a), as_rdms(b), method="tau-a"), dtype=np.float64)


# --------------------------------------------------------------------------------------
# Correlation-distance RDMs (BLAS)
# --------------------------------------------------------------------------------------


def correlation_rdms(patterns: Any) -> np.ndarray:
    """Correlation-distance RDMs, as rsatoolbox's ``calc_rdm(method="correlation")``, via BLAS.

    ``patterns``: ``(conditions, channels)`` or ``(n_sets, conditions, channels)``; returns
    ``(n_sets, n_pairs)`` float64 upper triangles in rsatoolbox order. Same formula as
    rsatoolbox 0.3.2 (``calc_rdm_correlation``: remove each condition's mean over channels,
    scale to unit norm, ``1 - X X^T``, upper triangle), but the product is a BLAS matrix
    multiplication instead of ``np.einsum('ik,jk')`` (a plain loop): ~20x faster at
    900 conditions x 16,384 features (9.4 s -> ~0.4 s on one core), equal to rsatoolbox to
    float rounding (~1e-15; tested to 1e-12).
    """
    x = np.asarray(patterns, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"patterns must be (conditions, channels) or (sets, conditions, channels); got {x.shape}")
    if x.shape[1] < 3:
        raise ValueError(f"need at least 3 conditions for an RDM; got {x.shape[1]}")
    n = x.shape[1]
    iu = np.triu_indices(n, k=1)
    out = np.empty((x.shape[0], iu[0].size), np.float64)
    for i, p in enumerate(x):
        ma = p - p.mean(axis=1, keepdims=True)
        ma /= np.sqrt(np.einsum("ij,ij->i", ma, ma))[:, None]
        out[i] = 1.0 - (ma @ ma.T)[iu]
    return out
