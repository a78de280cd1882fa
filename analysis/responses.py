"""Response tensors from event traces: ``(trials, conditions, neurons)``.

Everything here is a pure function of arrays and stimulus tables, so it is
tested on hand-made traces with known answers (``tests/test_responses.py``).
Time is measured in two-photon frames (about 30 Hz), the unit of the Allen
stimulus tables' ``start``/``end`` columns.

Original protocol (``../shared/reference/original-protocol.md``):

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

from typing import Literal, Sequence

import numpy as np
import pandas as pd

N_SCENES = 118
N_SCENE_TRIALS = 50
N_MOVIE_FRAMES = 900
N_MOVIE_REPEATS = 10
SCENE_WINDOW = 15
MOVIE_BIN = 15

Missing = Literal["error", "nan"]


def _check_events(events: np.ndarray) -> np.ndarray:
    events = np.asarray(events, dtype=np.float64)
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
    window: int = SCENE_WINDOW,
    n_images: int = N_SCENES,
    n_trials: int = N_SCENE_TRIALS,
    missing: Missing = "error",
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

    Returns
    -------
    numpy.ndarray
        ``(n_trials, n_images, cells)`` float64, events summed over the window.
    """
    events = _check_events(events)
    _check_table(stim_table, ["frame", "start"])
    if window < 1:
        raise ValueError(f"window must be >= 1 frame; got {window}")
    n_cells, n_frames = events.shape
    # Cumulative sums make every window sum O(1): sum(t0..t1-1) = c[t1] - c[t0].
    csum = np.concatenate([np.zeros((n_cells, 1)), np.cumsum(events, axis=1)], axis=1)
    table = stim_table.sort_values("start", kind="stable")
    out = np.full((n_trials, n_images, n_cells), np.nan)
    for image in range(n_images):
        starts = table.loc[table["frame"] == image, "start"].to_numpy(dtype=np.int64)
        if len(starts) < n_trials and missing == "error":
            raise ValueError(
                f"image {image} has {len(starts)} presentations, fewer than the {n_trials} "
                "required; pass missing='nan' to keep the others"
            )
        starts = starts[:n_trials]
        stops = np.minimum(starts + window, n_frames)
        out[: len(starts), image, :] = (csum[:, stops] - csum[:, starts]).T
    return out


def movie_frame_responses(
    events: np.ndarray,
    stim_table: pd.DataFrame,
    *,
    n_frames: int = N_MOVIE_FRAMES,
    n_repeats: int = N_MOVIE_REPEATS,
    missing: Missing = "error",
) -> np.ndarray:
    """Natural Movie One responses: the event value at each movie frame's start.

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

    Returns
    -------
    numpy.ndarray
        ``(n_repeats, n_frames, cells)`` float64.
    """
    events = _check_events(events)
    _check_table(stim_table, ["frame", "start", "repeat"])
    n_cells, n_tp = events.shape
    out = np.full((n_repeats, n_frames, n_cells), np.nan)
    frame = stim_table["frame"].to_numpy(dtype=np.int64)
    repeat = stim_table["repeat"].to_numpy(dtype=np.int64)
    start = stim_table["start"].to_numpy(dtype=np.int64)
    keep = (repeat >= 0) & (repeat < n_repeats) & (frame >= 0) & (frame < n_frames) & (start < n_tp)
    out[repeat[keep], frame[keep], :] = events[:, start[keep]].T
    if missing == "error" and np.isnan(out).any():
        holes = np.argwhere(np.isnan(out[:, :, 0]) if n_cells else np.zeros((0, 2)))
        r, f = holes[0] if len(holes) else (None, None)
        raise ValueError(
            f"movie table misses {len(holes)} of {n_repeats * n_frames} (repeat, frame) slots "
            f"(first: repeat {r}, frame {f}); pass missing='nan' to keep the others"
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
    movie_bin: int = MOVIE_BIN,
    n_repeats: int = N_MOVIE_REPEATS,
    missing: Missing = "error",
) -> np.ndarray:
    """Natural Movie One responses binned into ``900 / movie_bin`` conditions.

    Returns ``(n_repeats, 900 // movie_bin, cells)``: :func:`movie_frame_responses`
    followed by :func:`bin_conditions`.
    """
    frames = movie_frame_responses(events, stim_table, n_repeats=n_repeats, missing=missing)
    return bin_conditions(frames, movie_bin)


def pool_neurons(tensors: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate sessions' ``(trials, conditions, neurons_i)`` along the neuron axis."""
    if not tensors:
        raise ValueError("no response tensors to pool")
    shapes = {t.shape[:2] for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"sessions disagree on (trials, conditions): {sorted(shapes)}")
    return np.concatenate(tensors, axis=2)
