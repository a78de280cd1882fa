"""A synthetic Allen Brain Observatory (Visual Coding 2P) written in Allen's own layout.

:func:`build_synthetic_cache` writes a complete AllenSDK ``BrainObservatoryCache``
folder that the *unmodified* AllenSDK reads (``get_experiment_containers``,
``get_ophys_experiments``, ``get_ophys_experiment_data``,
``get_ophys_experiment_events``, ``get_cell_specimens``, the NWB accessors).
Only provenance tells it apart from the real data: ``"source": "synthetic"`` in
every JSON record, a ``general/source`` dataset in every NWB file and a
``provenance.json`` at the root (generator, preset, seed, parameters, stimulus
sources). Everything is a deterministic function of ``(preset, seed, plant)``.

Layout (relative to the root)::

    manifest.json                         written by BrainObservatoryCache itself
    experiment_containers.json            one record per container (Allen's fields)
    ophys_experiments.json                one record per session
    cell_specimens.json, stimulus_mappings.json
    ophys_experiment_data/<id>.nwb        NWB 1.x-style HDF5 (h5py, fixed-length byte strings)
    ophys_experiment_events/<id>_events.npz   key "ev": float32 (cells, frames) L0-like events
    provenance.json

Session design (Allen's three-session design, reduced to what matters here)
---------------------------------------------------------------------------
Every container has ``three_session_A``, ``three_session_B`` and
``three_session_C`` experiments. Natural Movie One (900 frames at 30 frames/s,
10 consecutive repeats, one stimulus-table row per displayed movie frame) is in
all three; Natural Scenes (118 images plus the blank, ``frame == -1``, each 50
times in random order, 250 ms each with no grey gap, i.e. 7-8 two-photon
frames) only in B, in three epochs as in the real session. A short
``spontaneous`` (grey screen) epoch is included too. The other stimuli of the
real sessions (gratings, sparse noise, movies two and three) and their time
are left out to keep the files small, so ``list_stimuli()`` returns only
``natural_scenes``/``natural_movie_one``/``spontaneous``. Imaging runs at
30.08 Hz against a 60 Hz display, so stimulus-table ``start``/``end`` are
two-photon frame indices exactly as in the real tables.

Written per NWB file: ``general`` metadata read by ``get_metadata()``,
``DfOverF`` (cells x frames, float32, stored with 2 decimal digits (HDF5 scale-offset filter)) and its
timestamps, ``Fluorescence`` timestamps (a hard link; raw fluorescence traces,
ROI masks, neuropil, running speed and motion correction are not written),
``ImageSegmentation/cell_specimen_ids`` and ``roi_ids``, stimulus presentation
tables. The stimulus templates (``natural_scenes`` uint8 118 x 918 x 1174 and
``natural_movie_one`` uint8 900 x 304 x 608, from :mod:`analysis.stimuli`) are
written **only** into the session-B file of experiment
``study.TEMPLATE_EXPERIMENT_ID`` (501498760), the one the original study read
its templates from: a copy in every file would exceed the size budget. The
``small`` preset writes smaller templates (118 x 92 x 118 and 900 x 32 x 64);
the item counts, and hence all stimulus tables, are unchanged.

Neural model (one population per container, shared by its three sessions)
-------------------------------------------------------------------------
Stimulus features are computed once per stimulus on a coarse grid
(24 x 31 for scenes, 16 x 32 for the movie; positions are in units of the image
height/width so one receptive field covers the same part of either stimulus):
luminance increments and decrements (ON/OFF), local oriented energy at four
orientations (squared directional derivatives), coarse contrast energy
(|image - Gaussian blur|) and, for the movie, temporal-change energy
(|frame t - frame t-1|). Each channel is scaled to unit standard deviation.

Each neuron has

* a Gaussian receptive field at a uniform random position with area-dependent
  size (sigma, fraction of the image height: VISp 0.06 < VISl 0.09, VISal 0.10
  < VISpm 0.14 < VISam 0.16, log-normal jitter 20 %);
* a feature preference: Dirichlet(0.3) weights over the feature channels (most
  neurons are dominated by one channel);
* a static response per stimulus item: its drive (RF-weighted feature sum),
  z-scored over the items of that stimulus, passed through a threshold
  power-law ``amp * max(0, z - theta)**p`` (theta ~ U(0.3, 1.3), p ~ U(1.5, 2.5))
  -> sparse, selective responses; 25 % of neurons have 10x weaker responses;
* a response latency (VISp 2, others 3 two-photon frames, +0/1 jitter) and an
  exponential temporal integration kernel (time constant VISp 2, VISl/VISal 4,
  VISpm 6, VISam 8 frames, log-normal jitter 25 %) applied to the response time
  course (so 250-ms scenes blend into each other and the movie is smoothed,
  more in higher areas);
* responses to the continuous movie scaled by 0.12 relative to flashed
  scenes (adaptation to continuous stimulation);
* trial-to-trial variability: a multiplicative log-normal gain per neuron and
  trial unit (one scene presentation, or a 30-frame = 1-s chunk of a movie
  repeat, or 8 frames of grey; sigma 0.5 at 175 um, 0.6 at 275 um) times a
  log-normal gain shared by the population per trial unit (sigma 0.25, "brain
  state");
* a spontaneous rate of 0.002-0.01 events per frame.

Events: the expected rate ``lambda`` per two-photon frame is the filtered,
gain-modulated response plus the spontaneous rate; the number of events in a
frame is Poisson(``lambda``) and each event has a Gamma(2, 0.5) x cell-scale
amplitude, so the L0-like trace is mostly zeros with positive amplitudes.
Responses at 275 um are 15 % weaker and noisier than at 175 um. dF/F is the
event train convolved with a GCaMP6f-like exponential (tau 0.7 s) plus white
noise (sd 0.005). Each session images a random 92-108 % of the nominal number
of neurons out of the container's pool (1.15 x nominal), so a neuron appears in
up to three sessions with the same cell_specimen_id and tuning. With the
original protocol the split-half noise ceilings (median tau-a, default preset,
seed 0) are 0.44-0.58 for scenes and 0.39-0.57 for the movie: well below 1,
clearly above 0 (``benchmarks/bench_synthetic.py --ceilings``).

Planting a known answer
-----------------------
``plant=Plant(area, features, weight, gain)`` makes the neurons of one area
(optionally one depth) be driven by given stimulus features: ``features`` maps
a stimulus name to an array ``(items, k)`` (118 scenes / 900 movie frames) or is
a callable ``(stimulus, template) -> (items, k)``. Each neuron's drive becomes
``sqrt(weight) * z_planted + sqrt(1 - weight) * z_model`` with ``z_planted`` a
random projection of the planted features, and its response amplitude is
multiplied by ``gain`` (more events -> more reliable). ``mode="standardize"``
(the default, the original path) standardises every feature column over items
and z-scores each neuron's drive; ``mode="geometry"`` keeps the features'
geometry instead (:func:`geometry_drive`: each item's pattern centred and
unit-normed, one Gaussian direction per neuron, so two items' drives correlate
over neurons exactly as their feature patterns do). ``response="rectified"``
replaces the sparse threshold power law of the planted items by
``amp * max(0, drive + 0.5)`` (denser code; still monotone). The ``planted``
preset (VISp only, 4 containers of 120 cells) is meant for recovery checks.
The data without a plant do not depend on any of this (byte-identical).
The planted arrays' hashes, mode and response go into ``provenance.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from . import config, study, tables

# --------------------------------------------------------------------------------------
# Constants of the design
# --------------------------------------------------------------------------------------

#: Two-photon imaging rate (Hz) and display rate (Hz) of the Brain Observatory rigs.
IMAGING_RATE: float = 30.08
DISPLAY_RATE: float = 60.0
#: Natural Scenes: presentations per image (the blank included), duration (display frames).
SCENE_REPEATS: int = 50
SCENE_DISPLAY_FRAMES: int = 15  # 250 ms
#: Natural Movie One: repeats per session and display frames per movie frame (30 fps).
MOVIE_REPEATS: int = 10
MOVIE_DISPLAY_FRAMES: int = 2
#: Session types simulated per container (the survey's three-session design; C2 is the
#: later variant of C and is not simulated).
SESSION_TYPES: tuple[str, ...] = study.SESSION_TYPES[:3]
#: The base design of every session: the original study's static stimulus and movie,
#: simulated exactly as in every earlier version of the generator. Any other natural
#: stimulus asked for (``stimuli=``) is a movie appended to the sessions that show it, as
#: an extra segment with its own random stream, so adding a stimulus leaves the data of
#: the base stimuli unchanged (byte-identical events at the same frames).
BASE_STIMULI: tuple[str, ...] = study.DEFAULT_STIMULI
_BASE_STATIC = next(n for n in BASE_STIMULI if not study.get_stimulus(n).is_movie)
_BASE_MOVIE = next(n for n in BASE_STIMULI if study.get_stimulus(n).is_movie)
#: Random stream of a session's extra segment: ``_rng(seed, container, experiment, EXTRA_STREAM)``.
EXTRA_STREAM: int = 1


def session_stimuli(session_type: str, stimuli: Sequence[str] = BASE_STIMULI) -> tuple[str, ...]:
    """Stimuli a simulated session shows: those of ``stimuli`` (plus the base ones) that the
    survey shows in ``session_type``, then ``spontaneous``."""
    return study.stimuli_in_session(session_type, set(stimuli) | set(BASE_STIMULI)) + ("spontaneous",)


def extra_stimuli(stimuli: Sequence[str]) -> tuple[str, ...]:
    """The stimuli of ``stimuli`` beyond the base design (each a movie: a ValueError otherwise)."""
    out = tuple(s for s in study.STIMULUS_NAMES if s in set(stimuli) and s not in BASE_STIMULI)
    for s in out:
        if not study.get_stimulus(s).is_movie:
            raise ValueError(f"the synthetic generator can add movies only; {s} is static")
    return out

REPORTER = "Ai93(TITL-GCaMP6f)"
TTA = "Camk2a-tTA"

# Area-dependent parameters of the neural model.
RF_SIGMA: dict[str, float] = {"VISp": 0.06, "VISl": 0.09, "VISal": 0.10, "VISpm": 0.14, "VISam": 0.16}
TAU_FRAMES: dict[str, float] = {"VISp": 2.0, "VISl": 4.0, "VISal": 4.0, "VISpm": 6.0, "VISam": 8.0}
LATENCY_FRAMES: dict[str, int] = {"VISp": 2, "VISl": 3, "VISal": 3, "VISpm": 3, "VISam": 3}
def gain_sigma(depth: int) -> float:
    """Trial-to-trial gain variability at a depth (um): 0.5 at 175, 0.6 at 275, at most 0.8."""
    return min(0.8, 0.5 + 0.001 * (int(depth) - 175))


GAIN_SIGMA: dict[int, float] = {d: gain_sigma(d) for d in (175, 275, 375)}
def depth_amplitude(depth: int) -> float:
    """Event amplitude factor at a depth (um): 1 at 175, 0.85 at 275, down to 0.5 deeper."""
    return max(0.5, 1.0 - 0.0015 * (int(depth) - 175))


def depth_cell_factor(depth: int) -> float:
    """Cells per session relative to 175 um: 1.0 at 175, 1.1 deeper."""
    return 1.0 if int(depth) <= 175 else 1.1


DEPTH_AMPLITUDE: dict[int, float] = {d: depth_amplitude(d) for d in (175, 275, 375)}
SHARED_GAIN_SIGMA = 0.25
DFF_TAU_S = 0.7
DFF_NOISE = 0.005
MOVIE_CHUNK = 30  # movie frames per trial-gain unit (1 s)
#: Response amplitude to the continuous movie relative to flashed scenes (adaptation).
MOVIE_GAIN = 0.12

# feature grids (height, width)
SCENE_GRID = (24, 31)
MOVIE_GRID = (16, 32)
N_CHANNELS = 8  # lum on, lum off, 4 orientations, contrast, temporal change



@dataclass(frozen=True)
class Preset:
    """Size of a synthetic data set.

    ``containers[(area, depth)]`` containers of the main Cre line per area and
    depth; ``cells[area]`` neurons per session at 175 um (10 % more at 275 um);
    ``extra`` decoy containers ``(cre_line, area, depth, failed)`` that a
    correct selection must skip.
    """

    name: str
    areas: tuple[str, ...]
    depths: tuple[int, ...]
    containers: Mapping[tuple[str, int], int]
    cells: Mapping[str, int]
    scenes_shape: tuple[int, int, int]
    movie_shape: tuple[int, int, int]
    extra: tuple[tuple[str, str, int, bool], ...] = ()
    spontaneous_s: float = 10.0
    containers_per_new_depth: int = 3  # containers per area at a depth added with ``depths=``


PRESETS: dict[str, Preset] = {
    "default": Preset(
        name="default",
        areas=study.AREAS,
        depths=study.DEFAULT_DEPTHS,
        containers={(a, d): 3 for a in study.AREAS for d in study.DEFAULT_DEPTHS},
        cells={"VISp": 110, "VISl": 90, "VISal": 85, "VISpm": 65, "VISam": 55},
        scenes_shape=(118, 918, 1174),
        movie_shape=(900, 304, 608),
        extra=(("Cux2-CreERT2", "VISam", 275, True), ("Rorb-IRES2-Cre", "VISp", 275, False)),
    ),
    "small": Preset(
        name="small",
        areas=study.AREAS,
        depths=(175,),
        containers={(a, 175): (2 if a == "VISp" else 1) for a in study.AREAS},
        cells={"VISp": 40, "VISl": 32, "VISal": 30, "VISpm": 26, "VISam": 24},
        scenes_shape=(118, 92, 118),
        movie_shape=(900, 32, 64),
        extra=(("Cux2-CreERT2", "VISl", 175, True), ("Rorb-IRES2-Cre", "VISp", 175, False)),
    ),
    # Ground-truth recovery (tests/test_ground_truth.py): one area, more cells and subjects,
    # the small preset's templates; build time ~ the small preset's.
    "planted": Preset(
        name="planted",
        areas=("VISp",),
        depths=(175,),
        containers={("VISp", 175): 4},
        cells={"VISp": 120},
        scenes_shape=(118, 92, 118),
        movie_shape=(900, 32, 64),
    ),
}


PLANT_MODES: tuple[str, ...] = ("standardize", "geometry")
PLANT_RESPONSES: tuple[str, ...] = ("model", "rectified")
PLANT_OFFSET = 0.5  # threshold of the "rectified" planted response: max(0, drive + 0.5)


@dataclass(frozen=True)
class Plant:
    """Drive one area's population from given stimulus features (a known answer).

    Attributes
    ----------
    area:
        Area whose neurons are driven (one of ``study.AREAS``).
    features:
        ``{"natural_scenes": (118, k), "natural_movie_one": (900, k)}`` arrays, or a
        callable ``(stimulus, template uint8 (items, h, w)) -> (items, k)``.
        A stimulus missing from the mapping keeps the model's own drive.
    weight:
        Fraction of each neuron's drive variance given by the planted features (0-1).
    gain:
        Multiplier of the response amplitude (> 1: more events, more reliable).
    depths:
        Depths affected (default: all).
    mode:
        How features become each neuron's planted drive (see the module docstring):
        ``"standardize"`` (each feature column standardised over items, random
        projection, each neuron's drive z-scored over items: the features'
        directions all weigh the same, which does *not* keep the geometry of
        e.g. a network layer) or ``"geometry"`` (each item's pattern centred
        over features and scaled to unit norm, projected on a standard Gaussian
        direction per neuron, no standardisation: for every item the drive is
        N(0, 1) over neurons and two items' drives correlate, over neurons,
        exactly as their feature patterns do, i.e. ``1 -`` the feature RDM's
        correlation distance).
    response:
        Response nonlinearity of the planted items: ``"model"`` (the generator's
        sparse threshold power law, 25 % of neurons 10x weaker) or
        ``"rectified"`` (``amp * max(0, drive + 0.5)``, every neuron at its full
        amplitude): a denser code whose population correlations follow the
        drive correlations more closely, so fewer cells carry the planted
        geometry (cell sampling, not the nonlinearity, then limits recovery).
        Both are monotone in the drive, so the order of the RDM is kept either way.
    """

    area: str
    features: Mapping[str, np.ndarray] | Callable[[str, np.ndarray], np.ndarray]
    weight: float = 1.0
    gain: float = 1.0
    depths: tuple[int, ...] | None = None
    mode: str = "standardize"
    response: str = "model"

    def __post_init__(self) -> None:
        study.validate_choice("plant mode", self.mode, PLANT_MODES)
        study.validate_choice("plant response", self.response, PLANT_RESPONSES)

    def features_for(self, stimulus: str, template: np.ndarray) -> np.ndarray | None:
        if callable(self.features):
            f = self.features(stimulus, template)
        else:
            f = self.features.get(stimulus)
        if f is None:
            return None
        f = np.asarray(f, dtype=np.float64)
        if f.ndim == 1:
            f = f[:, None]
        if f.shape[0] != template.shape[0] or f.ndim != 2:
            raise ValueError(
                f"planted features for {stimulus} must have shape ({template.shape[0]}, k), got {f.shape}"
            )
        return f


# --------------------------------------------------------------------------------------
# Small utilities
# --------------------------------------------------------------------------------------


def _write_npz_deterministic(path: Path, **arrays: np.ndarray) -> None:
    """Like ``np.savez_compressed`` but with fixed zip timestamps (byte-identical reruns)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=6)


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _s(value: str) -> np.bytes_:
    """Fixed-length byte string (what AllenSDK's readers expect)."""
    return np.bytes_(value.encode("utf-8"))


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *[int(k) for k in keys]]))


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    import cv2

    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------------------
# Stimulus features
# --------------------------------------------------------------------------------------


def stimulus_features(template: np.ndarray, grid: tuple[int, int], temporal: bool) -> np.ndarray:
    """Feature maps of a stimulus template.

    Parameters
    ----------
    template:
        ``uint8 (items, h, w)``.
    grid:
        ``(gh, gw)`` output grid.
    temporal:
        Fill the temporal-change channel (|frame t - frame t-1|; movies only).

    Returns
    -------
    np.ndarray
        ``float32 (items, N_CHANNELS, gh, gw)``: lum ON, lum OFF, oriented energy at
        0/45/90/135 deg, contrast energy, temporal change; each channel scaled to
        unit standard deviation over items and positions (zero channels stay zero).
    """
    import cv2

    gh, gw = grid
    n = template.shape[0]
    hi = np.stack([_resize(im, 2 * gh, 2 * gw) for im in template]).astype(np.float32) / 255.0
    out = np.zeros((n, N_CHANNELS, gh, gw), np.float32)
    thetas = np.deg2rad([0, 45, 90, 135])
    prev = None
    for i in range(n):
        img = hi[i]
        lum = _resize(img - 0.5, gh, gw)
        out[i, 0] = np.maximum(lum, 0)
        out[i, 1] = np.maximum(-lum, 0)
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
        for k, th in enumerate(thetas):
            out[i, 2 + k] = _resize((np.cos(th) * gx + np.sin(th) * gy) ** 2, gh, gw)
        blur = cv2.GaussianBlur(img, (0, 0), 3.0)
        out[i, 6] = _resize(np.abs(img - blur), gh, gw)
        if temporal and prev is not None:
            out[i, 7] = _resize(np.abs(img - prev), gh, gw)
        prev = img
    if temporal and n > 1:
        out[0, 7] = out[1, 7]
    sd = out.std(axis=(0, 2, 3))
    out /= np.where(sd > 0, sd, 1.0)[None, :, None, None]
    return out


# --------------------------------------------------------------------------------------
# Session timelines
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Neural model
# --------------------------------------------------------------------------------------


@dataclass
class Population:
    """Parameters of one container's neurons (``M`` neurons)."""

    responses: np.ndarray  # (items, M) static response per item (scenes, blank, movie frames)
    latency: np.ndarray  # (M,) int frames
    tau: np.ndarray  # (M,) frames
    spont: np.ndarray  # (M,) events/frame
    scale: np.ndarray  # (M,) event amplitude scale
    gain_sigma: float
    extra: np.ndarray | None = None  # (1 + frames of the extra movies, M): grey, then each extra movie


def _gaussian_rfs(grid: tuple[int, int], centers: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """Unit-sum Gaussian weights (M, gh*gw); centres (M, 2) as (x, y) in [0, 1], sigma in image heights."""
    m = len(centers)
    gh, gw = grid
    y = (np.arange(gh) + 0.5) / gh
    x = (np.arange(gw) + 0.5) / gw
    # sigma in units of image height; x axis scaled by the aspect ratio of the grid
    aspect = gw / gh
    dy = (y[None, :, None] - centers[:, 1, None, None]) / sig[:, None, None]
    dx = (x[None, None, :] - centers[:, 0, None, None]) * aspect / sig[:, None, None]
    w = np.exp(-0.5 * (dx**2 + dy**2))
    w /= w.sum(axis=(1, 2), keepdims=True)
    return w.reshape(m, gh * gw)


def _drive(features: np.ndarray, rfs: np.ndarray, prefs: np.ndarray) -> np.ndarray:
    """(items, C, gh, gw) x (M, gh*gw) x (M, C) -> (items, M)."""
    n, c = features.shape[:2]
    g = features.reshape(n * c, -1) @ rfs.T  # (n*C, M)
    g = g.reshape(n, c, -1)
    return np.einsum("ncm,mc->nm", g, prefs)


def _zscore(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    mu = ref.mean(axis=0)
    sd = ref.std(axis=0)
    return (x - mu) / np.where(sd > 0, sd, 1.0)


def geometry_drive(features: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Planted drive that keeps the features' geometry: ``(items, k) x (k, M) -> (items, M)``.

    Each item's pattern is centred over its ``k`` features and scaled to unit
    norm (so inner products of items are the Pearson correlations that a
    correlation-distance RDM is made of) and projected on the standard Gaussian
    ``directions``. For every item the drive over neurons is then N(0, 1), and
    the drives of items x and y are bivariate normal over neurons with
    correlation ``corr(f_x, f_y)``. Any fixed response nonlinearity applied per
    neuron (thresholds, powers, gains drawn independently of the directions)
    therefore gives, over many neurons, a population correlation of x and y
    that is a monotone function of ``corr(f_x, f_y)`` alone (Mehler expansion:
    ``sum_k c_k^2 rho^k``): the population RDM has the layer RDM's order,
    up to the sampling of a finite number of neurons and trial noise.
    """
    f = np.asarray(features, dtype=np.float64)
    f = f - f.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(f, axis=1, keepdims=True)
    f = f / np.where(norm > 0, norm, 1.0)
    return f @ directions


def make_population(rng: np.random.Generator, area: str, depth: int, m: int,
                    scene_feats: np.ndarray, grey_feats: np.ndarray, movie_feats: np.ndarray,
                    planted: Mapping[str, np.ndarray] | None = None, plant_weight: float = 1.0,
                    plant_gain: float = 1.0, plant_mode: str = "standardize",
                    plant_response: str = "model", extra_feats: Sequence[np.ndarray] = ()) -> Population:
    """Draw ``m`` neurons of one area/depth and their responses to every stimulus item.

    Returns a :class:`Population` whose ``responses`` has rows
    ``[118 scenes, grey, 900 movie frames]`` (expected events per frame at peak).
    ``extra_feats``: feature maps of further movies (``MOVIE_GRID``); their responses, from
    the same neurons and with no further random draw, fill :attr:`Population.extra`.
    """
    centers = rng.uniform(0.1, 0.9, size=(m, 2))
    sig = RF_SIGMA[area] * np.exp(0.2 * rng.standard_normal(m))
    prefs = rng.dirichlet(np.full(N_CHANNELS, 0.3), size=m)
    theta = rng.uniform(0.3, 1.3, m)
    power = rng.uniform(1.5, 2.5, m)
    amp = rng.lognormal(np.log(0.35), 0.5, m) * depth_amplitude(depth)
    weak = rng.random(m) < 0.25
    full_amp = amp.copy()
    amp[weak] *= 0.1
    latency = LATENCY_FRAMES[area] + rng.integers(0, 2, m)
    tau = TAU_FRAMES[area] * np.exp(0.25 * rng.standard_normal(m))
    spont = rng.uniform(0.002, 0.01, m)
    scale = rng.lognormal(np.log(0.15), 0.4, m)

    rfs_s = _gaussian_rfs(SCENE_GRID, centers, sig)
    rfs_m = _gaussian_rfs(MOVIE_GRID, centers, sig)
    d_scenes = _drive(scene_feats, rfs_s, prefs)
    d_grey = _drive(grey_feats, rfs_s, prefs)
    d_movie = _drive(movie_feats, rfs_m, prefs)
    z_scenes = _zscore(d_scenes, d_scenes)
    z_grey = _zscore(d_grey, d_scenes)
    z_movie = _zscore(d_movie, d_movie)

    if planted:
        w = float(np.clip(plant_weight, 0.0, 1.0))
        for name in BASE_STIMULI:
            f = planted.get(name)
            if f is None:
                continue
            if plant_mode == "geometry":
                zp = geometry_drive(f, rng.standard_normal((f.shape[1], m)))
            else:
                f = (f - f.mean(0)) / np.where(f.std(0) > 0, f.std(0), 1.0)
                proj = f @ rng.standard_normal((f.shape[1], m))
                zp = _zscore(proj, proj)
            if name == _BASE_STATIC:
                z_scenes = np.sqrt(w) * zp + np.sqrt(1 - w) * z_scenes
            else:
                z_movie = np.sqrt(w) * zp + np.sqrt(1 - w) * z_movie
        amp = amp * float(plant_gain)

    def respond(z):
        return amp * np.maximum(z - theta, 0.0) ** power

    def respond_planted(z, name):
        if planted and plant_response == "rectified" and planted.get(name) is not None:
            return full_amp * float(plant_gain) * np.maximum(z + PLANT_OFFSET, 0.0)
        return respond(z)

    responses = np.concatenate([respond_planted(z_scenes, _BASE_STATIC), respond(z_grey),
                                MOVIE_GAIN * respond_planted(z_movie, _BASE_MOVIE)], axis=0)
    extra = None
    if len(extra_feats):
        rows = [respond(z_grey)]
        for feats in extra_feats:
            d = _drive(feats, rfs_m, prefs)
            rows.append(MOVIE_GAIN * respond(_zscore(d, d)))
        extra = np.concatenate(rows, axis=0).astype(np.float64)
    return Population(responses=responses.astype(np.float64), latency=latency, tau=tau, spont=spont,
                      scale=scale, gain_sigma=gain_sigma(depth), extra=extra)


def simulate_session(rng: np.random.Generator, pop: Population, cells: np.ndarray,
                     tl: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """Events and dF/F of the neurons ``cells`` (indices into ``pop``) over one session.

    Returns ``(events, dff)``, both ``float32 (len(cells), tl.n_frames)``.
    """
    from scipy.signal import lfilter

    n = len(cells)
    T = tl.n_frames
    resp = pop.responses[:, cells]  # (items, n)
    lat = pop.latency[cells]
    n_units = int(tl.unit.max()) + 1
    gains = np.exp(pop.gain_sigma * rng.standard_normal((n, n_units)) - 0.5 * pop.gain_sigma**2)
    shared = np.exp(SHARED_GAIN_SIGMA * rng.standard_normal(n_units) - 0.5 * SHARED_GAIN_SIGMA**2)
    grey = tl.grey_item
    rate = np.empty((n, T), np.float64)
    for L in np.unique(lat):
        sel = np.flatnonzero(lat == L)
        item = np.concatenate([np.full(L, grey), tl.item[: T - L]])
        unit = np.concatenate([np.zeros(L, np.int64), tl.unit[: T - L]])
        rate[sel] = resp[item][:, sel].T * gains[sel][:, unit] * shared[unit][None, :]
    # exponential temporal integration, per neuron time constant
    for i in range(n):
        a = np.exp(-1.0 / pop.tau[cells[i]])
        rate[i] = lfilter([1 - a], [1, -a], rate[i])
    rate += pop.spont[cells][:, None]
    counts = rng.poisson(rate)
    nz = np.nonzero(counts)
    events = np.zeros((n, T), np.float32)
    amps = rng.gamma(2.0, 0.5, size=len(nz[0])) * pop.scale[cells][nz[0]] * counts[nz]
    events[nz] = amps.astype(np.float32)
    a = np.exp(-1.0 / (DFF_TAU_S * IMAGING_RATE))
    dff = lfilter([1.0], [1, -a], events.astype(np.float64), axis=1)
    dff += DFF_NOISE * rng.standard_normal(dff.shape, dtype=np.float32)
    return events, dff.astype(np.float32)


# --------------------------------------------------------------------------------------
# Records and ids
# --------------------------------------------------------------------------------------


@dataclass
class ContainerSpec:
    index: int
    container_id: int
    cre_line: str
    area: str
    depth: int
    failed: bool
    n_cells: int
    donor: str
    specimen_id: int
    sex: str
    birth: str
    experiment_ids: dict[str, int]
    acquisition: dict[str, str]
    cell_ids: np.ndarray  # (pool,)


def _stable_int(*parts: object) -> int:
    """A 64-bit integer determined by the parts alone (ids that do not move when rows are added)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _container_rows(preset: Preset) -> list[tuple[str, str, int, bool, int]]:
    """(cre line, area, depth, failed, k) of every container of a preset, k = index within its group."""
    rows: list[tuple[str, str, int, bool, int]] = []
    for area in preset.areas:
        for depth in preset.depths:
            n = int(preset.containers.get((area, depth), preset.containers_per_new_depth))
            rows += [(study.CRE_LINE, area, int(depth), False, k) for k in range(n)]
    rows += [(cre, area, int(depth), bool(failed), 0) for cre, area, depth, failed in preset.extra]
    return rows


def _container_specs(preset: Preset) -> list[ContainerSpec]:
    """Containers with ids and metadata that depend only on (cre line, area, depth, failed, k).

    Adding a depth to a preset therefore adds containers without changing the ids,
    and hence the simulated data (seeded by container and experiment id), of the others.
    """
    rows = _container_rows(preset)
    specs = []
    used_cells: set[int] = set()
    used_ids: set[int] = {study.TEMPLATE_EXPERIMENT_ID}
    for i, (cre, area, depth, failed, k) in enumerate(rows):
        key = (cre, area, depth, failed, k)

        def unique(base: int, span: int, *tag: object) -> int:
            value = base + _stable_int(*key, *tag) % span
            while value in used_ids:  # deterministic probing on the (rare) collision
                value += 1
            used_ids.add(value)
            return value

        cid = unique(511_000_000, 88_000_000, "container")
        exp = {st: unique(501_000_000, 198_000_000, "experiment", st) for st in SESSION_TYPES}
        if key == (study.CRE_LINE, preset.areas[0], preset.depths[0], False, 0):
            # the template experiment: session B of the first container
            exp["three_session_B"] = study.TEMPLATE_EXPERIMENT_ID
        rng = np.random.default_rng(_stable_int(*key, "metadata") % (1 << 63))
        ncell = int(round(preset.cells[area] * depth_cell_factor(depth)))
        pool = int(round(ncell * 1.15))
        bucket = _stable_int(*key, "cells") % 100_000
        while bucket in used_cells:
            bucket = (bucket + 1) % 100_000
        used_cells.add(bucket)
        cell_ids = 517_000_000 + bucket * 10_000 + np.sort(rng.choice(np.arange(1, 20 * pool), size=pool, replace=False))
        y = int(rng.integers(2015, 2017))
        mo = int(rng.integers(1, 13))
        day = int(rng.integers(1, 22))
        birth = f"{y}-{mo:02d}-{day:02d}"
        age = int(rng.integers(85, 115))
        acq0 = np.datetime64(birth) + np.timedelta64(age, "D")
        acq = {}
        for k, st in enumerate(SESSION_TYPES):
            d = acq0 + np.timedelta64(int(k * rng.integers(1, 4)) + k, "D")
            hh, mm, ss = int(rng.integers(9, 17)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
            acq[st] = f"{d}T{hh:02d}:{mm:02d}:{ss:02d}Z"
        specs.append(
            ContainerSpec(
                index=i, container_id=int(cid), cre_line=cre, area=area, depth=int(depth),
                failed=bool(failed), n_cells=int(ncell), donor=str(int(rng.integers(200_000, 340_000))),
                specimen_id=int(rng.integers(490_000_000, 560_000_000)),
                sex=str(rng.choice(["male", "female"])), birth=birth, experiment_ids=exp,
                acquisition=acq, cell_ids=cell_ids.astype(np.int64),
            )
        )
    return specs


_AREA_NAMES = {
    "VISp": (385, "Primary visual area"),
    "VISl": (409, "Lateral visual area"),
    "VISal": (402, "Anterolateral visual area"),
    "VISpm": (533, "posteromedial visual area"),
    "VISam": (394, "Anteromedial visual area"),
}


def _transgenic_lines(cre: str) -> list[dict]:
    lines = [{"name": cre, "transgenic_line_type_name": "driver"}]
    if cre.startswith("Cux2"):
        lines.append({"name": TTA, "transgenic_line_type_name": "driver"})
    lines.append({"name": REPORTER, "transgenic_line_type_name": "reporter"})
    return lines


def _genotype(cre: str) -> str:
    parts = [f"{cre}/wt"]
    if cre.startswith("Cux2"):
        parts.append(f"{TTA}/wt")
    parts.append(f"{REPORTER}/{REPORTER}")
    return ";".join(parts)


def _specimen(c: ContainerSpec) -> dict:
    name = f"{c.cre_line};{TTA if c.cre_line.startswith('Cux2') else ''};Ai93-{c.donor}".replace(";;", ";")
    return {
        "id": c.specimen_id,
        "name": name,
        "donor": {
            "external_donor_name": c.donor,
            "date_of_birth": c.birth + "T00:00:00Z",
            "sex": c.sex,
            "conditions": [],
            "transgenic_lines": _transgenic_lines(c.cre_line),
        },
    }


def _structure(area: str) -> dict:
    sid, name = _AREA_NAMES[area]
    return {"acronym": area, "id": sid, "name": name}


def _container_record(c: ContainerSpec) -> dict:
    return {
        "id": c.container_id,
        "imaging_depth": c.depth,
        "targeted_structure": _structure(c.area),
        "failed": c.failed,
        "specimen": _specimen(c),
        "isi_experiment_id": c.container_id - 7,
        "ophys_experiments": [
            {"id": c.experiment_ids[st], "stimulus_name": st} for st in SESSION_TYPES
        ],
        "source": "synthetic",
    }


def _experiment_record(c: ContainerSpec, st: str) -> dict:
    return {
        "id": c.experiment_ids[st],
        "imaging_depth": c.depth,
        "targeted_structure": _structure(c.area),
        "specimen": _specimen(c),
        "date_of_acquisition": c.acquisition[st],
        "experiment_container_id": c.container_id,
        "experiment_container": {"id": c.container_id, "failed": c.failed},
        "stimulus_name": st,
        "source": "synthetic",
    }


# --------------------------------------------------------------------------------------
# NWB writer
# --------------------------------------------------------------------------------------

_GZ = dict(compression="gzip", compression_opts=4)  # uint8 templates: shuffle does not help


def _write_nwb(path: Path, c: ContainerSpec, st: str, cell_ids: np.ndarray, dff: np.ndarray,
               tl: Timeline, templates: Mapping[str, np.ndarray] | None, shown: Sequence[str]) -> None:
    import h5py

    eid = c.experiment_ids[st]
    acq = np.datetime64(c.acquisition[st].rstrip("Z"))
    start_str = acq.astype("datetime64[s]").item().strftime("%a %b %d %H:%M:%S %Y")
    age_days = int((acq.astype("datetime64[D]") - np.datetime64(c.birth)).astype(int))
    ts = np.arange(tl.n_frames, dtype=np.float64) / IMAGING_RATE + 8.0
    with h5py.File(path, "w", track_order=False) as f:
        def ds(name, value, **kw):
            return f.create_dataset(name, data=value, track_times=False, **kw)

        ds("nwb_version", _s("NWB-1.0.5"))
        ds("identifier", _s(f"synthetic-{eid}"))
        ds("session_description", _s(f"synthetic stand-in for ophys experiment {eid} ({st})"))
        ds("session_start_time", _s(start_str))
        ds("file_create_date", _s(start_str))
        g = "general/"
        ds(g + "source", _s("synthetic"))
        f["general"].attrs["source"] = _s("synthetic")
        ds(g + "session_type", _s(st))
        ds(g + "session_id", _s(str(eid)))
        ds(g + "experiment_container_id", _s(str(c.container_id)))
        ds(g + "specimen_name", _s(_specimen(c)["name"]))
        ds(g + "fov", _s("400x400 microns (512 x 512 pixels)"))
        ds(g + "devices/2-photon microscope", _s(
            "Nikon A1R-MP multiphoton microscope. CAM2P.synthetic Please note: synthetic stand-in data."))
        ds(g + "generated_by", np.array([_s("Allen Institute for Brain Science"),
                                         _s("analysis.synthetic (synthetic stand-in)"), _s("3.0")]))
        ds(g + "subject/age", _s(f"{age_days} days"))
        ds(g + "subject/sex", _s(c.sex))
        ds(g + "subject/genotype", _s(_genotype(c.cre_line)))
        ip = g + "optophysiology/imaging_plane_1/"
        ds(ip + "imaging depth", _s(f"{c.depth} microns"))
        ds(ip + "location", _s(c.area))
        ds(ip + "excitation_lambda", _s("910 nanometers"))
        ds(ip + "indicator", _s("GCaMP6f"))
        pipe = "processing/brain_observatory_pipeline/"
        n, T = dff.shape
        chunks = (min(n, 32), min(T, 8192))
        ds(pipe + "DfOverF/imaging_plane_1/data", dff, chunks=chunks, scaleoffset=2,
           compression="gzip", compression_opts=4, shuffle=True)
        ds(pipe + "DfOverF/imaging_plane_1/timestamps", ts)
        ds(pipe + "DfOverF/imaging_plane_1/roi_names", np.array([_s(f"roi_{i}") for i in range(n)]))
        f.require_group(pipe + "Fluorescence/imaging_plane_1")
        f[pipe + "Fluorescence/imaging_plane_1/timestamps"] = f[pipe + "DfOverF/imaging_plane_1/timestamps"]
        ds(pipe + "ImageSegmentation/cell_specimen_ids", cell_ids.astype(np.int64))
        ds(pipe + "ImageSegmentation/roi_ids", np.array([_s(f"roi_{i}") for i in range(n)]))
        f.require_group(pipe + "ImageSegmentation/imaging_plane_1")
        for name, (data, frames) in tl.tables.items():
            if name not in shown:
                continue
            p = f"stimulus/presentation/{name}_stimulus/"
            ds(p + "data", np.asarray(data, np.int64))
            ds(p + "frame_duration", np.asarray(frames, np.float64))
            ds(p + "num_samples", np.int64(len(data)))
        if templates:
            for name, arr in templates.items():
                ds(f"stimulus/templates/{name}_image_stack/data", arr,
                   chunks=(1,) + arr.shape[1:], **_GZ)


# --------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------

GENERATOR_VERSION = "1"


def _plant_summary(plant: Plant | None, feats: Mapping[str, np.ndarray] | None) -> dict | None:
    if plant is None:
        return None
    return {
        "area": plant.area,
        "weight": plant.weight,
        "gain": plant.gain,
        "depths": list(plant.depths) if plant.depths else None,
        "mode": plant.mode,
        "response": plant.response,
        "features_sha256": {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
                            for k, v in (feats or {}).items()},
    }


def _clean_stale(root: Path) -> None:
    """Remove temporary build folders of processes that no longer exist."""
    for p in root.parent.glob(f".{root.name}.building-*"):
        try:
            pid = int(p.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
        if not alive:
            shutil.rmtree(p, ignore_errors=True)


def build_synthetic_cache(root: Path, preset: str = "default", seed: int = 0, progress: bool = True, *,
                          plant: Plant | None = None, overwrite: bool = False,
                          depths: Sequence[int] | None = None, stimuli: Sequence[str] | None = None) -> Path:
    """Write a complete synthetic Brain Observatory cache under ``root`` and return ``root``.

    Parameters
    ----------
    root:
        Target folder (e.g. ``config.cache_dir("synthetic")``). It is built in a
        temporary sibling folder and renamed at the end, so an interrupted build
        never leaves a partial cache.
    preset:
        ``"default"`` (30 containers, real template shapes) or ``"small"``
        (6 containers, depth 175 only, reduced templates; for tests).
    seed:
        Seed of the neural model and the presentation orders (ids do not depend on it).
    progress:
        Report progress over sessions (:func:`analysis.progress.progress`).
    plant:
        Optional :class:`Plant` (a known answer planted in one area).
    overwrite:
        Replace an existing cache at ``root`` (otherwise a FileExistsError).
    depths:
        Imaging depths (um) to simulate instead of the preset's (e.g. ``(175, 275, 375)``).
        Containers of a depth the preset lacks get ``containers_per_new_depth`` per area;
        the containers of the other depths, and their data, are the same whatever
        depths are added (ids and random streams depend on the container alone).
    stimuli:
        Natural stimuli to show (default: :data:`BASE_STIMULI`, the original study's two);
        any other movie of :data:`analysis.study.STIMULI` is appended to the sessions that
        show it in the survey (:func:`extra_stimuli`), leaving the base stimuli's data
        unchanged.
    """
    from . import stimuli as stimuli_mod
    from .progress import progress as tqdm  # a bar on a terminal, plain lines otherwise

    study.validate_choice("preset", preset, tuple(PRESETS))
    pre = PRESETS[preset]
    if depths is not None:
        bad = [d for d in depths if int(d) <= 0]
        if bad or not depths:
            raise ValueError(f"depths must be positive integers (um); got {list(depths)}")
        pre = dataclasses.replace(pre, depths=tuple(sorted({int(d) for d in depths})))
    if plant is not None:
        study.validate_choice("plant area", plant.area, study.AREAS)
    for name in stimuli or ():
        study.get_stimulus(name)
    extras = extra_stimuli(stimuli or ())
    root = Path(root).expanduser().resolve()
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{root} already exists and is not empty; pass overwrite=True "
            "(CLI: `python -m analysis synth --force`) or remove it"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-{os.getpid()}-", dir=root.parent))
    t0 = time.time()
    try:
        os.chmod(tmp, 0o755)
        _build_into(tmp, pre, int(seed), progress, plant, tqdm, stimuli_mod, extras)
        if root.exists():
            trash = root.parent / f".{root.name}.old-{os.getpid()}"
            os.replace(root, trash)
            os.replace(tmp, root)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress:
        print(f"synthetic cache ({preset}, seed {seed}) written to {root} in {time.time() - t0:.1f} s")
    return root


def _templates(pre: Preset, stimuli, extras: Sequence[str] = ()) -> list[np.ndarray]:
    """Stand-in templates of a preset: scenes, movie, then each extra movie (frames from its
    :class:`~analysis.study.Stimulus` record, frame size the preset's movie's); reduced
    shapes are memoised in the work cache ("stimuli")."""
    from functools import partial

    from . import cache

    out = []
    jobs = [("scenes", stimuli.scene_templates, pre.scenes_shape, {}),
            ("movie", stimuli.movie_template, pre.movie_shape, {})]
    for name in extras:
        stim = study.get_stimulus(name)
        jobs.append((name, partial(stimuli.movie_template, seed=stim.standin_seed),
                     (stim.n_frames,) + tuple(pre.movie_shape[1:]), {"seed": stim.standin_seed}))
    for kind, fn, shape, extra_parts in jobs:
        parts = {"kind": kind, "shape": list(shape), **extra_parts,
                 "sources": [(r["package"], r["version"], r["path"]) for r in stimuli.SOURCES]}
        if np.prod(shape) > 20_000_000:  # full-size templates: recomputing (~5 s) beats a 300 MB entry
            arr = fn(shape)
        else:
            try:
                arr = cache.get_or_compute("stimuli", parts, lambda fn=fn, shape=shape: {"t": fn(shape)})["t"]
            except OSError:  # unwritable work cache: compute without memoising
                arr = fn(shape)
        out.append(arr)
    return out


def _build_into(tmp: Path, pre: Preset, seed: int, progress: bool, plant: Plant | None, tqdm, stimuli,
                extras: Sequence[str] = ()) -> None:
    from allensdk.core.brain_observatory_cache import BrainObservatoryCache

    # manifest.json exactly as AllenSDK writes it (constructing the cache writes it; no network)
    BrainObservatoryCache(manifest_file=str(tmp / "manifest.json"))
    (tmp / "ophys_experiment_data").mkdir()
    (tmp / "ophys_experiment_events").mkdir()

    scenes, movie, *extra_tpl = _templates(pre, stimuli, extras)
    extra_templates = dict(zip(extras, extra_tpl))
    extra_feats = [stimulus_features(t, MOVIE_GRID, temporal=True) for t in extra_tpl]
    n_scenes, n_movie = scenes.shape[0], movie.shape[0]
    scene_feats = stimulus_features(scenes, SCENE_GRID, temporal=False)
    grey = np.full((1,) + scenes.shape[1:], 127, np.uint8)
    grey_raw = stimulus_features(np.concatenate([scenes, grey]), SCENE_GRID, temporal=False)[-1:]
    movie_feats = stimulus_features(movie, MOVIE_GRID, temporal=True)
    planted: dict[str, np.ndarray] = {}
    if plant is not None:
        for name, tpl in ((_BASE_STATIC, scenes), (_BASE_MOVIE, movie)):
            f = plant.features_for(name, tpl)
            if f is not None:
                planted[name] = f

    specs = _container_specs(pre)
    # an extra movie's template goes into the file of the lowest experiment id showing it
    # (what analysis.allen.template_experiment reads for a stimulus without a fixed one)
    template_home: dict[int, dict[str, np.ndarray]] = {}
    for name in extras:
        ids = [c.experiment_ids[st] for c in specs if not c.failed for st in SESSION_TYPES
               if name in session_stimuli(st, extras)]
        template_home.setdefault(min(ids), {})[name] = extra_templates[name]
    offset = {}  # first row of each extra movie in Population.extra (row 0 is grey)
    row = 1
    for name in extras:
        offset[name] = row
        row += study.get_stimulus(name).n_frames
    containers, experiments, cells_json = [], [], []
    bar = tqdm(total=3 * len(specs), desc="synthetic sessions", unit="session", disable=not progress)
    try:
        for c in specs:
            rng_c = _rng(seed, c.container_id)
            pool = len(c.cell_ids)
            use_plant = plant is not None and plant.area == c.area and (
                plant.depths is None or c.depth in plant.depths)
            pop = make_population(rng_c, c.area, c.depth, pool, scene_feats, grey_raw, movie_feats,
                                  planted if use_plant else None,
                                  plant.weight if use_plant else 1.0, plant.gain if use_plant else 1.0,
                                  plant.mode if use_plant else "standardize",
                                  plant.response if use_plant else "model", extra_feats)
            containers.append(_container_record(c))
            for st in SESSION_TYPES:
                eid = c.experiment_ids[st]
                rng_s = _rng(seed, c.container_id, eid)
                k = min(pool, max(1, int(round(c.n_cells * rng_s.uniform(0.92, 1.08)))))
                cells = np.sort(rng_s.choice(pool, size=k, replace=False))
                tl = _session_timeline(st, rng_s, n_scenes, n_movie, pre.spontaneous_s)
                events, dff = simulate_session(rng_s, pop, cells, tl)
                shown = session_stimuli(st, extras)
                here = [n for n in extras if n in shown]
                if here:  # extra movies: a segment after the base design, with its own stream
                    tl_x = _extra_timeline([(n, study.get_stimulus(n).n_frames, study.get_stimulus(n).presentations)
                                            for n in here])
                    rows = np.concatenate([[0]] + [offset[n] + np.arange(study.get_stimulus(n).n_frames)
                                                   for n in here])
                    pop_x = dataclasses.replace(pop, responses=pop.extra[rows])
                    ev_x, dff_x = simulate_session(_rng(seed, c.container_id, eid, EXTRA_STREAM), pop_x, cells, tl_x)
                    events, dff = np.concatenate([events, ev_x], axis=1), np.concatenate([dff, dff_x], axis=1)
                    tl = _append(tl, tl_x)
                tpl = dict(template_home.get(eid, {}))
                if eid == study.TEMPLATE_EXPERIMENT_ID:
                    tpl.update({_BASE_STATIC: scenes, _BASE_MOVIE: movie})
                _write_nwb(tmp / "ophys_experiment_data" / f"{eid}.nwb", c, st, c.cell_ids[cells], dff, tl, tpl or None,
                           shown)
                _write_npz_deterministic(tmp / "ophys_experiment_events" / f"{eid}_events.npz", ev=events)
                experiments.append(_experiment_record(c, st))
                bar.update(1)
            for cid in c.cell_ids:
                cells_json.append({
                    "cell_specimen_id": int(cid), "experiment_container_id": c.container_id,
                    "area": c.area, "imaging_depth": c.depth, "tld1_name": c.cre_line,
                    "tlr1_name": REPORTER, "donor_full_genotype": _genotype(c.cre_line),
                    "specimen_id": c.specimen_id, "failed_experiment_container": c.failed,
                    "source": "synthetic",
                })
    finally:
        bar.close()

    _write_json(tmp / "experiment_containers.json", containers)
    _write_json(tmp / "ophys_experiments.json", experiments)
    _write_json(tmp / "cell_specimens.json", cells_json)
    _write_json(tmp / "stimulus_mappings.json", [])
    _write_json(
        tmp / "provenance.json",
        {
            "source": "synthetic",
            "generator": "analysis.synthetic.build_synthetic_cache",
            "generator_version": GENERATOR_VERSION,
            "preset": pre.name,
            "seed": seed,
            "stimuli": list(BASE_STIMULI) + list(extras),
            "parameters": {
                "areas": list(pre.areas), "depths": list(pre.depths),
                "containers": {f"{a}_{d}": n for (a, d), n in pre.containers.items()},
                "cells_per_session_175um": dict(pre.cells),
                "extra_containers": [list(e) for e in pre.extra],
                "scenes_shape": list(pre.scenes_shape), "movie_shape": list(pre.movie_shape),
                "imaging_rate_hz": IMAGING_RATE, "display_rate_hz": DISPLAY_RATE,
                "rf_sigma": RF_SIGMA, "tau_frames": TAU_FRAMES, "latency_frames": LATENCY_FRAMES,
                "gain_sigma": {str(k): v for k, v in GAIN_SIGMA.items()},
                "depth_amplitude": {str(k): v for k, v in DEPTH_AMPLITUDE.items()},
                "shared_gain_sigma": SHARED_GAIN_SIGMA, "dff_tau_s": DFF_TAU_S, "dff_noise": DFF_NOISE,
                "template_experiment_id": study.TEMPLATE_EXPERIMENT_ID,
            },
            "plant": _plant_summary(plant, planted),
            "stimulus_sources": stimuli.SOURCES,
        },
    )


def cache_description(root: Path) -> dict:
    """Preset, seed and depths of an existing synthetic cache (from its ``provenance.json``).

    Returns an empty dict when ``root`` holds no synthetic cache.
    """
    path = Path(root) / "provenance.json"
    if not path.exists():
        return {}
    prov = json.loads(path.read_text())
    return {"preset": prov.get("preset"), "seed": prov.get("seed"),
            "depths": tuple(int(d) for d in prov.get("parameters", {}).get("depths", ())),
            "stimuli": tuple(prov.get("stimuli", BASE_STIMULI))}


def ensure_synthetic_cache(root: Path, depths: Sequence[int] = (), preset: str = "default", seed: int = 0,
                           progress: bool = True, stimuli: Sequence[str] = ()) -> Path:
    """Make sure ``root`` holds a synthetic cache covering ``depths`` and ``stimuli``; build or extend it if not.

    An existing cache is kept when it already has every requested depth and stimulus.
    Otherwise it is rebuilt with its own preset and seed over the union of what it had and
    what is requested; the data it had are unchanged (see :func:`build_synthetic_cache`).
    """
    have = cache_description(root)
    want_d, want_s = {int(d) for d in depths}, set(stimuli)
    if have and want_d <= set(have["depths"]) and want_s <= set(have["stimuli"]):
        return Path(root)
    if have:
        preset, seed = have["preset"] or preset, int(have["seed"] if have["seed"] is not None else seed)
        wanted = sorted(set(have["depths"]) | want_d)
        shown = set(have["stimuli"]) | want_s
    else:
        wanted = sorted(set(PRESETS[preset].depths) | want_d)
        shown = set(BASE_STIMULI) | want_s
    names = [s for s in study.STIMULUS_NAMES if s in shown]
    if progress:
        print(f"building the synthetic Brain Observatory ({preset}, depths {wanted}, stimuli {', '.join(names)}) "
              f"in {root} ...")
    return build_synthetic_cache(root, preset=preset, seed=seed, progress=progress, overwrite=True,
                                 depths=wanted, stimuli=names)
