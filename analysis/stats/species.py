"""Rat vs treeshrew: paired bootstrap tests per layer and at the best layers, seed permutations, FDR."""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd

from .resampling import bootstrap_p, fdr_bh, percentile_ci


# --------------------------------------------------------------------------------------
# Species comparison
# --------------------------------------------------------------------------------------


def seed_permutation_p(point: np.ndarray, species: Sequence[str], a: str = "rat", b: str = "treeshrew") -> np.ndarray:
    """Exact two-sided permutation p of the species difference, per column.

    ``point`` ``(n_checkpoints, n_columns)`` scores (stimuli and subjects fixed);
    all relabelings of the checkpoints into groups of the sizes of ``a`` and
    ``b`` (252 for 5 + 5). p = share of relabelings with ``|d| >= |d_obs|``
    (the observed labeling included, so p >= 1/252). A column may be a
    layer or each species' best layer (pass ``best=True`` columns yourself).
    """
    x = np.asarray(point, dtype=np.float64)
    lab = np.asarray(species)
    ia, ib = np.flatnonzero(lab == a), np.flatnonzero(lab == b)
    if ia.size == 0 or ib.size == 0:
        raise ValueError(f"need checkpoints of both {a!r} and {b!r}; got labels {sorted(set(lab.tolist()))}")
    both = np.concatenate([ia, ib])
    obs = x[ia].mean(0) - x[ib].mean(0)
    count = np.zeros(x.shape[1:])
    n = 0
    for ga in combinations(both.tolist(), ia.size):
        gb = np.setdiff1d(both, ga)
        d = x[list(ga)].mean(0) - x[gb].mean(0)
        count += np.abs(d) >= np.abs(obs) - 1e-12
        n += 1
    return count / n


def _species_draws(boot: np.ndarray, idx: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """Species-mean scores per draw ``(n_boot, n_layers)``; seeds resampled when ``rng`` is given."""
    sub = boot[:, idx]  # (n_boot, k, n_layers)
    if rng is None:
        return sub.mean(axis=1)
    pick = rng.integers(0, idx.size, size=(boot.shape[0], idx.size))
    return np.take_along_axis(sub, pick[:, :, None], axis=1).mean(axis=1)


def species_tests(
    point: np.ndarray,
    boot: np.ndarray,
    species: Sequence[str],
    layers: Sequence[str],
    rng: np.random.Generator,
    *,
    a: str = "rat",
    b: str = "treeshrew",
    resample_seeds: bool = True,
    level: float = 0.95,
) -> pd.DataFrame:
    """Rat vs treeshrew per layer and at each species' best layer.

    Parameters
    ----------
    point:
        ``(n_checkpoints, n_layers)`` scores.
    boot:
        ``(n_boot, n_checkpoints, n_layers)`` bootstrap draws of the same scores
        (one :func:`bootstrap_scores` run over all models: paired resamples).
    species:
        ``(n_checkpoints,)`` labels.
    layers:
        ``(n_layers,)`` names.
    rng:
        Draws the seed resamples (``resample_seeds``).

    Returns
    -------
    pandas.DataFrame
        One row per layer (``test="layer"``) plus one ``test="best_layer"`` row:
        ``test, layer, layer_a, layer_b, mean_a, mean_b, difference, ci_low, ci_high,
        p, p_seeds, best_stability_a, best_stability_b`` (``layer_a``/``layer_b``: each species'
        best layer in the point estimate; ``best_stability_*``: share of draws in
        which it is the best). FDR columns are added by :func:`add_fdr`.
    """
    x = np.asarray(point, dtype=np.float64)
    bt = np.asarray(boot, dtype=np.float64)
    lab = np.asarray(species)
    layers = list(layers)
    if x.shape != bt.shape[1:] or x.shape[1] != len(layers) or x.shape[0] != lab.size:
        raise ValueError(f"shapes disagree: point {x.shape}, boot {bt.shape}, {lab.size} species, {len(layers)} layers")
    ia, ib = np.flatnonzero(lab == a), np.flatnonzero(lab == b)
    if ia.size == 0 or ib.size == 0:
        raise ValueError(f"need checkpoints of both {a!r} and {b!r}; got labels {sorted(set(lab.tolist()))}")
    seed_rng = rng if resample_seeds else None
    da, db = _species_draws(bt, ia, seed_rng), _species_draws(bt, ib, seed_rng)
    ma, mb = x[ia].mean(0), x[ib].mean(0)
    diff_draws = da - db
    lo, hi = percentile_ci(diff_draws, level)
    p = bootstrap_p(diff_draws)
    p_seeds = seed_permutation_p(x, lab, a, b)
    rows = [
        {"test": "layer", "layer": layers[j], "layer_a": layers[j], "layer_b": layers[j],
         "mean_a": ma[j], "mean_b": mb[j], "difference": ma[j] - mb[j], "ci_low": lo[j], "ci_high": hi[j],
         "p": p[j], "p_seeds": p_seeds[j], "best_stability_a": np.nan, "best_stability_b": np.nan}
        for j in range(len(layers))
    ]
    ja, jb = int(np.argmax(ma)), int(np.argmax(mb))
    best_diff = da.max(axis=1) - db.max(axis=1)
    blo, bhi = percentile_ci(best_diff, level)
    # permutation at the best layers: the best-of-species-mean statistic under relabeling
    both = np.concatenate([ia, ib])
    obs = ma.max() - mb.max()
    count, n = 0, 0
    for ga in combinations(both.tolist(), ia.size):
        gb = np.setdiff1d(both, ga)
        d = x[list(ga)].mean(0).max() - x[gb].mean(0).max()
        count += abs(d) >= abs(obs) - 1e-12
        n += 1
    rows.append({"test": "best_layer", "layer": "", "layer_a": layers[ja], "layer_b": layers[jb],
                 "mean_a": ma[ja], "mean_b": mb[jb], "difference": obs, "ci_low": float(blo), "ci_high": float(bhi),
                 "p": float(bootstrap_p(best_diff)), "p_seeds": count / n,
                 "best_stability_a": float(np.mean(da.argmax(axis=1) == ja)),
                 "best_stability_b": float(np.mean(db.argmax(axis=1) == jb))})
    return pd.DataFrame(rows)


def add_fdr(table: pd.DataFrame, alpha: float = 0.05, p_col: str = "p") -> pd.DataFrame:
    """Add ``p_fdr`` (Benjamini-Hochberg over all rows: one family) and ``significant``."""
    out = table.copy()
    reject, adj = fdr_bh(out[p_col].to_numpy(dtype=np.float64), alpha)
    out["p_fdr"] = adj
    out["significant"] = reject
    return out
