"""Response tensors from event traces: ``(trials, conditions, neurons)``.

Everything here is a pure function of arrays and stimulus tables, so it is
tested on hand-made traces with known answers (``tests/test_responses.py``).
Time is measured in two-photon frames (about 30 Hz), the unit of the Allen
stimulus tables' ``start``/``end`` columns.

Original protocol (the reference notes ``original-protocol.md``):

* Natural Scenes: for each of the 118 images and each of its presentations in
  time order, the sum of a neuron's events over ``window`` (15) frames starting
  at the presentation's start frame -> ``(50, 118, N)``. Blank presentations
  (frame -1) are not a condition.
* Natural Movie One: for each repeat, the event value at each movie frame's
  start frame -> ``(10, 900, N)``; then the mean over non-overlapping blocks of
  ``movie_bin`` (15) frames -> ``(10, 60, N)``.
* Neurons of all sessions of all containers of an area are concatenated along
  the neuron axis (:func:`pool_neurons`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # annotations only: responses stays a module of pure array functions
    from .protocols import Protocol
    from .study import Stimulus

Missing = Literal["error", "nan"]


def _check_events(events: np.ndarray, dtype: type | None = np.float64) -> np.ndarray:
    """``events`` as a 2-D array of ``dtype`` (None: float32 and float64 input kept as they
    are, anything else as float64), refused when a value is not finite."""
    if dtype is None:
        events = np.asarray(events)
        dtype = events.dtype if events.dtype in (np.float32, np.float64) else np.float64
    events = np.asarray(events, dtype=dtype)
    if events.ndim != 2:
        raise ValueError(f"events must be 2-D (cells, frames); got shape {events.shape}")
    if not np.all(np.isfinite(events)):
        bad = ~np.isfinite(events)
        raise ValueError(
            f"events contain {bad.sum()} non-finite values in {bad.any(axis=1).sum()} cells; "
            "clean the traces before building responses"
        )
    return events


def _check_table(stim_table: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in stim_table.columns]
    if missing:
        raise ValueError(
            f"stimulus table lacks column(s) {missing}; it has {list(stim_table.columns)}"
        )


def scene_responses(
    events: np.ndarray,
    stim_table: pd.DataFrame,
    *,
    window: int,
    n_images: int,
    n_trials: int,
    missing: Missing = "error",
    latency: int = 0,
    event_sum: str = "float64",
) -> np.ndarray:
    """Natural Scenes responses: summed events in a window after each presentation.

    Parameters
    ----------
    events:
        ``(cells, frames)`` event trace of one session.
    stim_table:
        Allen stimulus table with columns ``frame`` (image index, -1 = blank) and
        ``start`` (first two-photon frame of the presentation).
    window:
        Number of two-photon frames summed, from ``start`` (inclusive). A window
        running past the end of the recording is cut at the last frame.
    n_images, n_trials:
        Conditions and presentations per condition kept (the first ``n_trials``
        presentations of each image, in time order).
    missing:
        What to do when an image has fewer than ``n_trials`` presentations:
        ``"error"`` raises (the original left such slots uninitialised);
        ``"nan"`` fills them with NaN.
    latency:
        Two-photon frames between a presentation's start and the start of its
        window (0 in the original): the window is ``[start + latency,
        start + latency + window)``. A window that starts at or after the last
        frame holds no data and is NaN (whatever ``missing`` says).
    event_sum:
        ``"float64"``: exact sums (cumulative sums in float64); ``"float32"``: each window
        summed in float32 with numpy's own summation, as the original code summed its
        float32 event traces (differences of the order of 1e-5 from the float64 sums).

    Returns
    -------
    numpy.ndarray
        ``(n_trials, n_images, cells)`` float64, events summed over the window.
    """
    if event_sum not in ("float32", "float64"):
        raise ValueError(f"event_sum must be 'float32' or 'float64'; got {event_sum!r}")
    # float32 sums read the float32 trace, so it is checked in float32 (a value too large for
    # float32 is refused too: it would have summed to inf)
    events = _check_events(events, np.float32 if event_sum == "float32" else None)
    _check_table(stim_table, ["frame", "start"])
    if window < 1:
        raise ValueError(f"window must be >= 1 frame; got {window}")
    if latency < 0:
        raise ValueError(f"latency must be >= 0 frames; got {latency}")
    n_cells, n_frames = events.shape
    if event_sum == "float32":
        ev32 = np.ascontiguousarray(events)

        def window_sums(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
            # numpy's own float32 sum of each (cells, window) block along its frames. Windows
            # of one length are gathered into (cells, presentations, window) and reduced along
            # the same contiguous last axis, so each sum runs numpy's same pairwise loop over
            # the same values in the same order (bit-identical to summing each slice, which
            # tests/test_responses.py checks); a cut window is summed on its own.
            if not len(starts):
                return np.zeros((0, n_cells))
            out = np.empty((len(starts), n_cells), np.float32)
            full = (stops - starts) == window
            if full.any():
                idx = (starts[full][:, None] + np.arange(window)).ravel()
                # C order, so the reduced axis is the contiguous one (as in a slice's own sum)
                blocks = np.ascontiguousarray(ev32[:, idx]).reshape(n_cells, -1, window)
                out[full] = blocks.sum(axis=2).T
            for i in np.flatnonzero(~full):
                out[i] = ev32[:, starts[i]:stops[i]].sum(axis=1)
            return out.astype(np.float64)
    else:
        # Cumulative sums make every window sum O(1): sum(t0..t1-1) = c[t1] - c[t0]. Summed in
        # float64 (a float32 trace is cast value by value, as converting it first would), into
        # one array with the leading zero column (no copy of a session-sized array).
        csum = np.empty((n_cells, n_frames + 1))
        csum[:, 0] = 0.0
        np.cumsum(events, axis=1, dtype=np.float64, out=csum[:, 1:])

        def window_sums(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
            return (csum[:, stops] - csum[:, starts]).T
    table = stim_table.sort_values("start", kind="stable")
    frame_of = table["frame"].to_numpy()
    start_of = table["start"].to_numpy(dtype=np.int64)
    out = np.full((n_trials, n_images, n_cells), np.nan)
    for image in range(n_images):
        starts = start_of[frame_of == image]
        if len(starts) < n_trials and missing == "error":
            raise ValueError(
                f"image {image} has {len(starts)} presentations, fewer than the {n_trials} "
                "required; a protocol with missing='nan' keeps the others (e.g. --protocol corrected)"
            )
        starts = starts[:n_trials] + int(latency)
        inside = starts < n_frames
        starts_in = starts[inside]
        stops = np.minimum(starts_in + window, n_frames)
        out[np.flatnonzero(inside), image, :] = window_sums(starts_in, stops)
    return out


def movie_frame_responses(
    events: np.ndarray,
    stim_table: pd.DataFrame,
    *,
    n_frames: int,
    n_repeats: int,
    missing: Missing = "error",
    latency: int = 0,
) -> np.ndarray:
    """Movie responses: the event value at each movie frame's start.

    Parameters
    ----------
    events:
        ``(cells, frames)`` event trace of one session.
    stim_table:
        Allen movie stimulus table, one row per displayed movie frame, with
        columns ``frame`` (movie frame index), ``start`` (two-photon frame) and
        ``repeat`` (0-based repeat index, as AllenSDK derives it).
    n_frames, n_repeats:
        Movie frames per repeat and repeats kept (the first ``n_repeats``).
    missing:
        ``"error"`` raises when a (repeat, frame) was never shown; ``"nan"`` fills NaN.
    latency:
        Shift in two-photon frames: the value read is the event at
        ``start + latency`` (0 in the original). A shifted frame past the end
        of the recording is a missing slot.

    Returns
    -------
    numpy.ndarray
        ``(n_repeats, n_frames, cells)`` float64.
    """
    if latency < 0:
        raise ValueError(f"latency must be >= 0 frames; got {latency}")
    events = _check_events(events)
    _check_table(stim_table, ["frame", "start", "repeat"])
    n_cells, n_tp = events.shape
    out = np.full((n_repeats, n_frames, n_cells), np.nan)
    frame = stim_table["frame"].to_numpy(dtype=np.int64)
    repeat = stim_table["repeat"].to_numpy(dtype=np.int64)
    start = stim_table["start"].to_numpy(dtype=np.int64) + int(latency)
    keep = (repeat >= 0) & (repeat < n_repeats) & (frame >= 0) & (frame < n_frames) & (start < n_tp)
    out[repeat[keep], frame[keep], :] = events[:, start[keep]].T
    if missing == "error" and np.isnan(out).any():
        holes = np.argwhere(np.isnan(out[:, :, 0]) if n_cells else np.zeros((0, 2)))
        r, f = holes[0] if len(holes) else (None, None)
        raise ValueError(
            f"movie table misses {len(holes)} of {n_repeats * n_frames} (repeat, frame) slots "
            f"(first: repeat {r}, frame {f}); a protocol with missing='nan' keeps the others "
            "(e.g. --protocol corrected)"
        )
    return out


def bin_conditions(responses: np.ndarray, size: int) -> np.ndarray:
    """Average non-overlapping blocks of ``size`` consecutive conditions.

    ``(trials, conditions, neurons)`` -> ``(trials, conditions // size, neurons)``;
    ``conditions`` must be a multiple of ``size``.
    """
    t, c, n = responses.shape
    if size < 1 or c % size:
        raise ValueError(f"cannot bin {c} conditions into blocks of {size}; use a divisor of {c}")
    return responses.reshape(t, c // size, size, n).mean(axis=2)


def movie_responses(
    events: np.ndarray,
    stim_table: pd.DataFrame,
    *,
    movie_bin: int,
    n_frames: int,
    n_repeats: int,
    missing: Missing = "error",
    latency: int = 0,
) -> np.ndarray:
    """Movie responses binned into ``n_frames / movie_bin`` conditions.

    Returns ``(n_repeats, n_frames // movie_bin, cells)``: :func:`movie_frame_responses`
    (with its ``latency`` shift) followed by :func:`bin_conditions`. A bin with a
    missing frame is NaN (the mean propagates NaN: a bin is never averaged over
    fewer frames than its siblings).
    """
    frames = movie_frame_responses(events, stim_table, n_frames=n_frames, n_repeats=n_repeats,
                                   missing=missing, latency=latency)
    return bin_conditions(frames, movie_bin)


def session_tensor(events: np.ndarray, stim_table: pd.DataFrame, stimulus: "Stimulus",
                   protocol: "Protocol") -> np.ndarray:
    """One session's responses to ``stimulus`` under ``protocol``, at full resolution.

    The one function that turns a session into a tensor, for every protocol and stimulus:
    a static stimulus gives ``(presentations, images, cells)`` (events summed over the
    protocol's window after its latency, :func:`scene_responses`), a movie
    ``(repeats, frames, cells)`` (the event at each frame's start plus the latency,
    :func:`movie_frame_responses`; bin with :func:`bin_conditions`). Counts come from the
    :class:`analysis.study.Stimulus` record, settings from
    :meth:`analysis.protocols.Protocol.response_settings`.
    """
    st = protocol.response_settings(stimulus)
    if stimulus.is_movie:
        return movie_frame_responses(events, stim_table, n_frames=stimulus.n_frames,
                                     n_repeats=stimulus.presentations, missing=st["missing"],
                                     latency=st["latency"])
    return scene_responses(events, stim_table, window=st["window"], n_images=stimulus.n_frames,
                           n_trials=stimulus.presentations, missing=st["missing"], latency=st["latency"],
                           event_sum=st["event_sum"])


def pool_neurons(tensors: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate sessions' ``(trials, conditions, neurons_i)`` along the neuron axis."""
    if not tensors:
        raise ValueError("no response tensors to pool")
    shapes = {t.shape[:2] for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"sessions disagree on (trials, conditions): {sorted(shapes)}")
    return np.concatenate(tensors, axis=2)


# --------------------------------------------------------------------------------------
# Corrected protocol: cells matched across sessions, explicit missing data, reliability
# --------------------------------------------------------------------------------------

MatchRule = Literal["average", "concatenate"]


@dataclass(frozen=True)
class MatchedCells:
    """Responses with each cell specimen counted once.

    ``responses``: ``(trials, conditions, cells)`` float64 (NaN = no data);
    ``cell_specimen_ids``: ``int64 (cells,)`` sorted ascending, the order of the
    last axis; ``n_sessions``: ``int64 (cells,)`` sessions that imaged each cell.
    """

    responses: np.ndarray
    cell_specimen_ids: np.ndarray
    n_sessions: np.ndarray


def match_cells(
    tensors: Sequence[np.ndarray],
    cell_ids: Sequence[np.ndarray],
    *,
    rule: MatchRule = "average",
) -> MatchedCells:
    """Merge sessions' responses so that a cell seen in several sessions counts once.

    The original concatenated the neurons of all sessions (:func:`pool_neurons`),
    so a cell imaged in sessions A, B and C (Natural Movie One is in all three)
    entered the RDM up to three times. Here cells are matched by
    ``cell_specimen_id`` (unique across containers in the Brain Observatory).

    Rules (trials stay aligned: trial ``k`` always means "repeat ``k``"):

    ``"average"`` (default)
        Trial ``k`` of a cell is the NaN-aware mean of repeat ``k`` over the
        sessions that imaged it -> ``(trials, conditions, n_unique)``. The
        shape, and hence split-half procedures over trials, are those of one
        session; with complete data a cell's trial mean equals the mean over all
        its presentations (the same as concatenating), so the all-trial RDM is
        the same under either rule. Chosen as the default because every cell
        keeps the same number of trial slots, so random trial halves hold
        disjoint presentations of every cell and are equally informative
        whichever sessions imaged it.
    ``"concatenate"``
        Session ``s``'s trials fill slots ``s * trials .. (s + 1) * trials - 1``
        -> ``(n_sessions_total * trials, conditions, n_unique)``; a cell not
        imaged in a session has NaN there.

    Parameters
    ----------
    tensors:
        Per session ``(trials, conditions, cells_i)``; all with the same
        ``(trials, conditions)``. NaN marks missing presentations.
    cell_ids:
        Per session ``(cells_i,)`` integer cell_specimen_ids, unique within a session.

    Returns
    -------
    MatchedCells
    """
    if not tensors:
        raise ValueError("no response tensors to match")
    if len(tensors) != len(cell_ids):
        raise ValueError(f"{len(tensors)} response tensors but {len(cell_ids)} id arrays")
    shapes = {np.shape(t)[:2] for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"sessions disagree on (trials, conditions): {sorted(shapes)}")
    valid_rules = ("average", "concatenate")
    if rule not in valid_rules:
        raise ValueError(f"unknown rule {rule!r}; valid rules: {', '.join(valid_rules)}")
    ids = []
    for i, (t, c) in enumerate(zip(tensors, cell_ids)):
        c = np.asarray(c).astype(np.int64).ravel()
        if np.ndim(t) != 3 or c.size != np.shape(t)[2]:
            raise ValueError(f"session {i}: tensor {np.shape(t)} does not match {c.size} cell ids")
        vals, counts = np.unique(c, return_counts=True)
        if (counts > 1).any():
            dup = vals[counts > 1]
            raise ValueError(f"session {i}: cell_specimen_ids repeated within a session: {dup[:5].tolist()}")
        ids.append(c)
    unique = np.unique(np.concatenate(ids))
    n_trials, n_cond = next(iter(shapes))
    n_sessions = np.zeros(unique.size, np.int64)
    if rule == "average":
        total = np.zeros((n_trials, n_cond, unique.size))
        count = np.zeros((n_trials, n_cond, unique.size))
        for t, c in zip(tensors, ids):
            t = np.asarray(t, dtype=np.float64)
            col = np.searchsorted(unique, c)
            ok = np.isfinite(t)
            total[:, :, col] += np.where(ok, t, 0.0)
            count[:, :, col] += ok
            n_sessions[col] += 1
        out = np.full_like(total, np.nan)
        np.divide(total, count, out=out, where=count > 0)
    else:
        out = np.full((n_trials * len(tensors), n_cond, unique.size), np.nan)
        for s, (t, c) in enumerate(zip(tensors, ids)):
            col = np.searchsorted(unique, c)
            out[s * n_trials:(s + 1) * n_trials][:, :, col] = np.asarray(t, dtype=np.float64)
            n_sessions[col] += 1
    return MatchedCells(out, unique, n_sessions)


def trial_mean(responses: np.ndarray) -> np.ndarray:
    """Mean over the valid (non-NaN) trials: ``(trials, conditions, cells)`` -> ``(conditions, cells)``.

    A (condition, cell) with no valid trial is NaN (no RuntimeWarning, never 0).
    """
    r = np.asarray(responses, dtype=np.float64)
    ok = np.isfinite(r)
    n = ok.sum(axis=0)
    out = np.full(r.shape[1:], np.nan)
    np.divide(np.where(ok, r, 0.0).sum(axis=0), n, out=out, where=n > 0)
    return out


def complete_cells(means: np.ndarray) -> np.ndarray:
    """Cells usable in a correlation-distance RDM: finite in every condition.

    ``means``: ``(conditions, cells)`` or ``(sets, conditions, cells)`` (a cell
    must be finite in every set) -> ``bool (cells,)``. The corrected protocol
    drops the other cells (a condition with no valid trial for a cell leaves no
    value to correlate) rather than imputing one.
    """
    m = np.asarray(means)
    return np.isfinite(m.reshape(-1, m.shape[-1])).all(axis=0)


def spearman_brown(r, factor: float = 2.0):
    """Spearman-Brown prophecy: reliability of a measure ``factor`` times as long.

    ``factor * r / (1 + (factor - 1) * r)``; e.g. a split-half correlation of 0.5
    gives 2/3 for the full length. Exact for Pearson correlations of parallel
    measurements (classical test theory); applied to other agreement measures
    (Kendall's tau-a of RDMs) it is an approximation. Works element-wise on arrays.
    """
    r = np.asarray(r, dtype=np.float64)
    out = factor * r / (1.0 + (factor - 1.0) * r)
    return out if out.ndim else float(out)


def _columnwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of matching columns of ``(conditions, cells)`` arrays, ignoring NaN rows per column."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(axis=0)
    a0, b0 = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = a0.sum(0) / n, b0.sum(0) / n
        da, db = np.where(ok, a0 - ma, 0.0), np.where(ok, b0 - mb, 0.0)
        r = (da * db).sum(0) / np.sqrt((da**2).sum(0) * (db**2).sum(0))
    r[n < 3] = np.nan
    return r


def split_half_reliability(
    responses: np.ndarray, rng: np.random.Generator, n_splits: int = 20
) -> np.ndarray:
    """Spearman-Brown-corrected split-half reliability of each cell's tuning.

    For each of ``n_splits`` random splits of the trials into two halves, the
    Pearson correlation (across conditions) of the cell's two half-means; the
    correlations are averaged over splits and corrected with
    :func:`spearman_brown` (factor 2) to the reliability of the all-trial mean.
    NaN for a cell with a constant half (e.g. silent) or fewer than 3 conditions
    with data in both halves.

    ``responses`` ``(trials, conditions, cells)`` -> ``(cells,)`` float64.
    """
    r = np.asarray(responses, dtype=np.float64)
    n_trials = r.shape[0]
    if n_trials < 2:
        raise ValueError(f"need at least 2 trials for split halves; got {n_trials}")
    if n_splits < 1:
        raise ValueError(f"n_splits must be >= 1; got {n_splits}")
    rs = np.empty((n_splits, r.shape[2]))
    for i in range(n_splits):
        perm = rng.permutation(n_trials)
        h = n_trials // 2
        rs[i] = _columnwise_pearson(trial_mean(r[perm[:h]]), trial_mean(r[perm[h:]]))
    with np.errstate(invalid="ignore"):
        mean_r = np.mean(rs, axis=0)
    return spearman_brown(mean_r)


def reliable_cells(
    responses: np.ndarray,
    threshold: float,
    rng: np.random.Generator,
    n_splits: int = 20,
) -> np.ndarray:
    """``bool (cells,)``: cells whose :func:`split_half_reliability` is >= ``threshold`` (NaN fails)."""
    rel = split_half_reliability(responses, rng, n_splits)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(rel, nan=-np.inf) >= threshold
