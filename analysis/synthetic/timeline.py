"""Session timelines: what is on the screen at each two-photon frame, and the stimulus tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .design import (_BASE_MOVIE, _BASE_STATIC, DISPLAY_RATE, IMAGING_RATE, MOVIE_CHUNK, MOVIE_DISPLAY_FRAMES,
                     MOVIE_REPEATS, SCENE_DISPLAY_FRAMES, SCENE_REPEATS)


@dataclass
class Timeline:
    """What is on the screen at each two-photon frame of one session.

    ``item``: int (frames,) index into the session's item table
    (0..117 scenes, 118 grey/blank, 119.. movie frames); ``unit``: int (frames,)
    trial-gain unit; ``tables``: stimulus -> (data (N,), frame_duration (N, 2)).
    """

    n_frames: int
    item: np.ndarray
    unit: np.ndarray
    grey_item: int
    tables: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def _session_timeline(session_type: str, rng: np.random.Generator, n_scenes: int, n_movie: int,
                      spont_s: float) -> Timeline:
    blank = n_scenes
    movie0 = n_scenes + 1
    gap = int(10 * DISPLAY_RATE)
    spont = int(spont_s * DISPLAY_RATE)

    def scenes_epochs():
        order = np.concatenate([np.arange(n_scenes + 1)] * SCENE_REPEATS)
        order = rng.permutation(order)
        return np.array_split(order, 3)

    if session_type == "three_session_A":
        plan = [("gap", gap), ("movie", None), ("spont", spont), ("gap", gap)]
    elif session_type == "three_session_B":
        e1, e2, e3 = scenes_epochs()
        plan = [("gap", gap), ("scenes", e1), ("spont", spont), ("scenes", e2), ("gap", gap // 2),
                ("movie", None), ("gap", gap // 2), ("scenes", e3), ("gap", gap)]
    elif session_type == "three_session_C":
        plan = [("gap", gap), ("spont", spont), ("gap", gap // 2), ("movie", None), ("gap", gap)]
    else:  # pragma: no cover - guarded by SESSION_TYPES
        raise ValueError(session_type)

    # Presentations in display frames (60 Hz), one numpy block per segment of the plan.
    KIND = {"gap": 0, "spont": 1, "scenes": 2, "movie": 3}
    lens_l, items_l, kinds_l, data_l = [], [], [], []
    for kind, arg in plan:
        if kind in ("gap", "spont"):
            lens_l.append(np.array([arg])); items_l.append(np.array([blank]))
            data_l.append(np.array([0])); kinds_l.append(np.array([KIND[kind]]))
        elif kind == "scenes":
            arg = np.asarray(arg, np.int64)
            lens_l.append(np.full(len(arg), SCENE_DISPLAY_FRAMES)); items_l.append(arg)
            data_l.append(np.where(arg < n_scenes, arg, -1)); kinds_l.append(np.full(len(arg), KIND[kind]))
        else:  # movie: MOVIE_REPEATS consecutive runs of frames 0..n_movie-1
            f = np.tile(np.arange(n_movie), MOVIE_REPEATS)
            lens_l.append(np.full(len(f), MOVIE_DISPLAY_FRAMES)); items_l.append(movie0 + f)
            data_l.append(f); kinds_l.append(np.full(len(f), KIND[kind]))
    lens = np.concatenate(lens_l).astype(np.int64)
    items = np.concatenate(items_l).astype(np.int64)
    data = np.concatenate(data_l).astype(np.int64)
    kinds = np.concatenate(kinds_l)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    total_display = int(lens.sum())
    names = {v: k for k, v in KIND.items()}
    kinds = np.array([names[k] for k in range(4)])[kinds]

    ratio = IMAGING_RATE / DISPLAY_RATE
    n_frames = int(np.ceil(total_display * ratio)) + 1
    start_f = np.floor(starts * ratio).astype(np.int64)
    end_f = np.floor((starts + lens) * ratio).astype(np.int64)

    # item per imaging frame: presentation on screen at the middle of the frame
    mid_display = (np.arange(n_frames) + 0.5) / ratio
    p_idx = np.clip(np.searchsorted(starts, mid_display, side="right") - 1, 0, len(starts) - 1)
    item = items[p_idx]
    # trial-gain units: scene presentations, movie chunks per repeat, ~0.25 s of grey
    unit_of_pres = np.zeros(len(starts), np.int64)
    is_movie = kinds == "movie"
    movie_pos = np.cumsum(is_movie) - 1  # index among movie presentations
    unit_of_pres[~is_movie] = np.arange((~is_movie).sum())
    base = (~is_movie).sum()
    unit_of_pres[is_movie] = base + movie_pos[is_movie] // MOVIE_CHUNK
    unit = unit_of_pres[p_idx]
    on_grey = (kinds[p_idx] != "scenes") & (kinds[p_idx] != "movie")
    unit = np.where(on_grey, len(starts) + base + np.arange(n_frames) // 8, unit)
    _, unit = np.unique(unit, return_inverse=True)

    tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    sc = kinds == "scenes"
    if sc.any():
        tables[_BASE_STATIC] = (data[sc], np.stack([start_f[sc], end_f[sc]], 1))
    tables[_BASE_MOVIE] = (data[is_movie], np.stack([start_f[is_movie], end_f[is_movie]], 1))
    sp = np.flatnonzero(kinds == "spont")
    sp_data = np.repeat(np.array([[1, -1]]), len(sp), 0).ravel()
    sp_frames = np.stack([start_f[sp], end_f[sp]], 1).ravel()
    tables["spontaneous"] = (sp_data, np.stack([sp_frames, sp_frames + 1], 1))
    return Timeline(n_frames=n_frames, item=item, unit=unit, grey_item=blank, tables=tables)


def _extra_timeline(movies: Sequence[tuple[str, int, int]]) -> Timeline:
    """Timeline of a session's extra segment: each movie ``(name, frames, repeats)`` played
    ``repeats`` times in a row, between grey gaps of 10 s.

    Items: 0 = grey, then the frames of each movie in turn (rows of
    :attr:`Population.extra` after a grey row). Trial-gain units as in the base design
    (a 30-frame movie chunk per repeat, ~0.25 s of grey).
    """
    gap = int(10 * DISPLAY_RATE)
    lens_l, items_l, data_l, name_l = [np.array([gap])], [np.array([0])], [np.array([0])], [np.array([""])]
    first = 1
    for name, n, repeats in movies:
        f = np.tile(np.arange(n), repeats)
        lens_l += [np.full(len(f), MOVIE_DISPLAY_FRAMES), np.array([gap])]
        items_l += [first + f, np.array([0])]
        data_l += [f, np.array([0])]
        name_l += [np.full(len(f), name), np.array([""])]
        first += n
    lens, items = np.concatenate(lens_l), np.concatenate(items_l)
    data, names = np.concatenate(data_l), np.concatenate(name_l)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    ratio = IMAGING_RATE / DISPLAY_RATE
    n_frames = int(np.ceil(int(lens.sum()) * ratio)) + 1
    start_f = np.floor(starts * ratio).astype(np.int64)
    end_f = np.floor((starts + lens) * ratio).astype(np.int64)
    mid_display = (np.arange(n_frames) + 0.5) / ratio
    p_idx = np.clip(np.searchsorted(starts, mid_display, side="right") - 1, 0, len(starts) - 1)
    is_movie = names != ""
    unit_of_pres = np.zeros(len(starts), np.int64)
    unit_of_pres[is_movie] = (np.cumsum(is_movie) - 1)[is_movie] // MOVIE_CHUNK
    unit = np.where(is_movie[p_idx], unit_of_pres[p_idx], len(starts) + np.arange(n_frames) // 8)
    _, unit = np.unique(unit, return_inverse=True)
    tables = {name: (data[names == name], np.stack([start_f[names == name], end_f[names == name]], 1))
              for name, _, _ in movies}
    return Timeline(n_frames=n_frames, item=items[p_idx], unit=unit, grey_item=0, tables=tables)


def _append(base: Timeline, extra: Timeline) -> Timeline:
    """One session's timeline: ``extra``'s segment after ``base``'s (tables shifted by its frames)."""
    tables = dict(base.tables)
    for name, (data, frames) in extra.tables.items():
        tables[name] = (data, frames + base.n_frames)
    return Timeline(n_frames=base.n_frames + extra.n_frames, item=np.concatenate([base.item, extra.item]),
                    unit=np.concatenate([base.unit, extra.unit + int(base.unit.max()) + 1]),
                    grey_item=base.grey_item, tables=tables)


@dataclass
class Epoch:
    """One epoch of a session: ``stimulus`` shown on two-photon frames ``[start, end)``.

    ``simulated``: the neurons respond to its items (a natural stimulus the data set
    simulates); otherwise they fire at a constant rate (gratings, sparse noise, grey, and
    natural stimuli the data set leaves out).
    """

    stimulus: str
    start: int
    end: int
    simulated: bool


def survey_timeline(session_type: str, rng: np.random.Generator, items: dict[str, int],
                    movies: dict[str, tuple[int, int]], simulated: Sequence[str]) -> tuple[Timeline, list[Epoch]]:
    """A session of the real survey's length and epoch order (:mod:`analysis.synthetic.survey`).

    ``items``: first row of each simulated stimulus in the session's item table
    (the base static stimulus (scenes) 0, then ``"grey"``, then each movie's frames); ``movies``:
    ``{name: (frames, repeats)}``; ``simulated``: the natural stimuli with responses and a
    stimulus table (the others are epochs of constant-rate firing, like the gratings). The
    epochs' frames do not depend on ``simulated``: a stimulus left out keeps its duration.
    Scenes: 118 images + blank, 50 times each in random order (``rng``), split over the
    session's three scenes epochs. Trial-gain units as in the base design.
    """
    from .survey import EPOCH_PLANS, GAP_S, LEAD_S, SESSION_FRAMES, SPONTANEOUS_S

    ratio = IMAGING_RATE / DISPLAY_RATE
    grey = items["grey"]
    plan = EPOCH_PLANS[session_type]
    scenes_parts = None
    if _BASE_STATIC in simulated and any(n == _BASE_STATIC for n, _ in plan):
        n_scenes = grey - items[_BASE_STATIC]
        order = rng.permutation(np.concatenate([np.arange(n_scenes + 1)] * SCENE_REPEATS))
        scenes_parts = np.array_split(order, 3)

    # display-frame segments: (stimulus or "", lens, items, data)
    natural: list[tuple[str, np.ndarray, np.ndarray, np.ndarray] | None] = []
    for name, part in plan:
        if name == _BASE_STATIC and scenes_parts is not None:
            arg = scenes_parts[part[0]]
            n_scenes = grey - items[_BASE_STATIC]
            natural.append((name, np.full(len(arg), SCENE_DISPLAY_FRAMES), np.where(arg < n_scenes, arg, grey),
                            np.where(arg < n_scenes, arg, -1)))
        elif name in movies and name in simulated:
            n, repeats = movies[name]
            lo, hi = (0, repeats) if part is None else part
            f = np.tile(np.arange(n), hi - lo)
            natural.append((name, np.full(len(f), MOVIE_DISPLAY_FRAMES), items[name] + f, f))
        else:
            natural.append(None)
    total = SESSION_FRAMES / ratio  # display frames
    fixed = LEAD_S * DISPLAY_RATE + GAP_S * DISPLAY_RATE * (len(plan) - 1)
    durations = []
    for (name, part), seg in zip(plan, natural):
        if seg is not None:
            durations.append(int(seg[1].sum()))
        elif name == "spontaneous":
            durations.append(int(SPONTANEOUS_S * DISPLAY_RATE))
        elif name in movies:  # a movie left out: its real duration, constant-rate firing
            n, repeats = movies[name]
            lo, hi = (0, repeats) if part is None else part
            durations.append(n * (hi - lo) * MOVIE_DISPLAY_FRAMES)
        elif name == _BASE_STATIC:  # scenes left out: their real duration (the layout never changes)
            n_pres = (grey - items[_BASE_STATIC] + 1) * SCENE_REPEATS
            durations.append(len(np.array_split(np.arange(n_pres), part[1])[part[0]]) * SCENE_DISPLAY_FRAMES)
        else:
            durations.append(-1)
    n_other = durations.count(-1)
    rest = int(total - fixed - sum(d for d in durations if d > 0))
    durations = [rest // n_other if d == -1 else d for d in durations]

    lens_l, items_l, data_l, name_l = [], [], [], []
    epochs_display: list[tuple[str, int, int, bool]] = []
    t = 0
    for k, ((name, _), seg, dur) in enumerate(zip(plan, natural, durations)):
        g = int(LEAD_S * DISPLAY_RATE) if k == 0 else int(GAP_S * DISPLAY_RATE)
        lens_l.append(np.array([g])); items_l.append(np.array([grey])); data_l.append(np.array([0]))
        name_l.append(np.array([""]))
        t += g
        if seg is None:
            lens_l.append(np.array([dur])); items_l.append(np.array([grey])); data_l.append(np.array([0]))
            name_l.append(np.array([name]))
            epochs_display.append((name, t, t + dur, False))
        else:
            lens_l.append(seg[1]); items_l.append(seg[2]); data_l.append(seg[3])
            name_l.append(np.full(len(seg[1]), name))
            epochs_display.append((name, t, t + dur, True))
        t += dur
    lens = np.concatenate(lens_l).astype(np.int64)
    item_p = np.concatenate(items_l).astype(np.int64)
    data = np.concatenate(data_l).astype(np.int64)
    names = np.concatenate(name_l)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    n_frames = SESSION_FRAMES
    start_f = np.floor(starts * ratio).astype(np.int64)
    end_f = np.floor((starts + lens) * ratio).astype(np.int64)
    mid_display = (np.arange(n_frames) + 0.5) / ratio
    p_idx = np.clip(np.searchsorted(starts, mid_display, side="right") - 1, 0, len(starts) - 1)
    is_movie = np.isin(names, [m for m in movies if m in simulated])
    is_scene = names == _BASE_STATIC
    unit_of_pres = np.zeros(len(starts), np.int64)
    unit_of_pres[is_scene] = np.arange(is_scene.sum())
    base = int(is_scene.sum())
    # movie chunks: MOVIE_CHUNK frames of one repeat of one movie
    for m in movies:
        sel = names == m
        if sel.any() and m in simulated:
            pos = np.cumsum(sel) - 1
            unit_of_pres[sel] = base + pos[sel] // MOVIE_CHUNK
            base += int(sel.sum()) // MOVIE_CHUNK + 1
    unit = unit_of_pres[p_idx]
    on_grey = ~(is_scene | is_movie)[p_idx]
    unit = np.where(on_grey, base + np.arange(n_frames) // 8, unit)
    _, unit = np.unique(unit, return_inverse=True)

    tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in simulated:
        sel = names == name
        if sel.any():
            tables[name] = (data[sel], np.stack([start_f[sel], end_f[sel]], 1))
    sp = [e for e in epochs_display if e[0] == "spontaneous"]
    sp_frames = np.array([[int(np.floor(a * ratio)), int(np.floor(b * ratio))] for _, a, b, _ in sp]).ravel()
    tables["spontaneous"] = (np.repeat(np.array([[1, -1]]), len(sp), 0).ravel(),
                             np.stack([sp_frames, sp_frames + 1], 1))
    epochs = [Epoch(n, int(np.floor(a * ratio)), min(n_frames, int(np.floor(b * ratio))), s)
              for n, a, b, s in epochs_display]
    return Timeline(n_frames=n_frames, item=item_p[p_idx], unit=unit, grey_item=grey, tables=tables), epochs
