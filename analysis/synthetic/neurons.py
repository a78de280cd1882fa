"""The population model (receptive fields, tuning, the planted drive) and one session's events and dF/F."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from .design import (_BASE_MOVIE, _BASE_STATIC, BASE_STIMULI, DFF_NOISE, DFF_TAU_S, IMAGING_RATE, LATENCY_FRAMES,
                     MOVIE_GAIN, MOVIE_GRID, N_CHANNELS, PLANT_OFFSET, RF_SIGMA, SCENE_GRID, SHARED_GAIN_SIGMA,
                     TAU_FRAMES, depth_amplitude, gain_sigma)
from .timeline import Timeline

if TYPE_CHECKING:
    from .timeline import Epoch


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


#: Half-life (s) of the calcium transient behind an L0 event of Cux2/Ai93 (GCaMP6f) in
#: Allen's event detection; the dF/F of the survey presets decays with it.
L0_HALF_LIFE_S: float = 0.239
#: Shape of the Gamma distribution of event amplitudes in the survey presets' natural
#: epochs (coefficient of variation ``1/sqrt(shape)``).
EVENT_SHAPE: float = 2.0
#: Slow drift of each neuron's responsiveness in the survey presets: a log-normal gain of SD
#: SLOW_SIGMA (the default; the calibrated model may set it per cell) per block of SLOW_FRAMES two-photon frames (about 30 s: one repeat of movie
#: one). Trials in different blocks then differ by more than Poisson noise, which widens the
#: row-0 ceiling's band toward the published widths (calibration: analysis.synthetic.calibrate).
SLOW_SIGMA: float = 0.6
SLOW_FRAMES: int = 900
#: Grey frames simulated after a natural epoch (the response decays into the next gap).
EPOCH_TAIL: int = 60


def _events_from_rate(rng: np.random.Generator, rate: np.ndarray, scale: np.ndarray,
                      shape: float = 2.0) -> np.ndarray:
    """Poisson events per frame with Gamma(``shape``, 1/``shape``) x ``scale`` amplitudes
    (mean ``scale``): ``float32 (n, T)``."""
    counts = rng.poisson(rate)
    nz = np.nonzero(counts)
    events = np.zeros(rate.shape, np.float32)
    amps = rng.gamma(shape, 1.0 / shape, size=len(nz[0])) * scale[nz[0]] * counts[nz]
    events[nz] = amps.astype(np.float32)
    return events


def _constant_rate_events(rng: np.random.Generator, rate: np.ndarray, n_frames: int,
                          scale: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events of neurons firing at a constant ``rate`` (events/frame) over ``n_frames``, drawn sparsely.

    Returns ``(neuron, frame, amplitude)``: the number of events of each neuron is
    Poisson(``rate * n_frames``), their frames uniform (coinciding events add).
    """
    n_ev = rng.poisson(rate * n_frames)
    who = np.repeat(np.arange(len(rate)), n_ev)
    when = rng.integers(0, n_frames, size=who.size)
    amp = rng.gamma(2.0, 0.5, size=who.size) * scale[who]
    return who, when, amp


def simulate_survey_session(rngs: Callable[[int], np.random.Generator], pop: Population, cells: np.ndarray,
                            tl: Timeline, epochs: Sequence["Epoch"], gain: Mapping[str, float],
                            trial_sigma: Mapping[str, float], other_gain: float = 0.5,
                            dff: bool = True, only: Sequence[str] | None = None,
                            slow_sigma: Mapping[str, float] | None = None,
                            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Events (and dF/F) of the neurons ``cells`` over one survey session, epoch by epoch.

    Each natural epoch the data set simulates is drawn from its own random stream
    ``rngs(epoch index)`` (so the events of one stimulus's epochs do not depend on what
    the other epochs show): the response to the items on screen (``pop.responses`` times
    the stimulus's ``gain``), shifted by each neuron's latency, modulated per trial unit
    by a per-neuron log-normal gain (SD ``trial_sigma[stimulus]``, default
    ``pop.gain_sigma``) and one shared by the population (:data:`SHARED_GAIN_SIGMA`), and
    per 30-s block by a slow per-neuron drift (SD ``slow_sigma[stimulus]``, default
    :data:`SLOW_SIGMA`), integrated with each neuron's time constant, plus the
    spontaneous rate; Poisson events with Gamma amplitudes. All other frames (grey gaps,
    spontaneous activity, gratings, sparse noise, movies not simulated) are constant-rate
    firing drawn sparsely from stream ``rngs(-1)``: the spontaneous rate, plus
    ``other_gain`` times the neuron's mean response to the scenes during the epochs of
    other stimuli. dF/F (when ``dff`` is true): the events convolved with a GCaMP6f
    transient of half-life :data:`L0_HALF_LIFE_S`, noise-free and rounded to steps of
    1/128 (the analysis reads the events; a noisy dF/F would double the files' size).

    ``only``: simulate just the epochs of these stimuli (and nothing else: no constant-rate
    firing, no dF/F): their frames, and the :data:`EPOCH_TAIL` after each, hold exactly
    the events a full simulation gives them (the in-memory studies use this).

    Returns ``(events float32 (len(cells), tl.n_frames), dff float32 or None)``.
    """
    from scipy.signal import lfilter

    n, T = len(cells), tl.n_frames
    events = np.zeros((n, T), np.float32)
    lat = pop.latency[cells]
    spont = pop.spont[cells]
    scale = pop.scale[cells]
    covered = np.zeros(T, bool)
    for k, ep in enumerate(epochs):
        if not ep.simulated or (only is not None and ep.stimulus not in only):
            continue
        rng = rngs(k)
        lo, hi = ep.start, min(T, ep.end + EPOCH_TAIL)
        covered[lo:hi] = True
        L = hi - lo
        resp = pop.responses[:, cells] * float(gain.get(ep.stimulus, 1.0))
        # trial units numbered within the epoch (so its draws do not depend on other epochs)
        _, unit_ep = np.unique(tl.unit[lo:hi], return_inverse=True)
        u0 = 0
        n_units = int(unit_ep.max()) + 1
        ts = float(trial_sigma.get(ep.stimulus, pop.gain_sigma))
        sg = SHARED_GAIN_SIGMA
        gains = np.exp(ts * rng.standard_normal((n, n_units)) - 0.5 * ts**2)
        shared = np.exp(sg * rng.standard_normal(n_units) - 0.5 * sg**2)
        rate = np.empty((n, L), np.float64)
        for d in np.unique(lat):
            sel = np.flatnonzero(lat == d)
            item = np.concatenate([np.full(d, tl.grey_item), tl.item[lo:hi - d]])
            unit = np.concatenate([np.full(d, unit_ep[0]), unit_ep[: L - d]]) - u0
            rate[sel] = resp[item][:, sel].T * gains[sel][:, unit] * shared[unit][None, :]
        for i in range(n):
            a = np.exp(-1.0 / pop.tau[cells[i]])
            rate[i] = lfilter([1 - a], [1, -a], rate[i])
        # slow drift: each neuron's own gain per SLOW_FRAMES block of the session
        block = np.arange(lo, hi) // SLOW_FRAMES
        b0 = int(block[0])
        ss = float((slow_sigma or {}).get(ep.stimulus, SLOW_SIGMA))
        slow = np.exp(ss * rng.standard_normal((n, int(block[-1]) - b0 + 1)) - 0.5 * ss**2)
        rate *= slow[:, block - b0]
        rate += spont[:, None]
        events[:, lo:hi] = _events_from_rate(rng, rate, scale, EVENT_SHAPE)
    if only is not None:
        return events, None
    # everything else: constant-rate firing, drawn sparsely
    rng = rngs(-1)
    evoked = other_gain * pop.responses[: tl.grey_item, cells].mean(axis=0) * float(gain.get(_BASE_STATIC, 1.0))
    in_other = np.zeros(T, bool)
    for ep in epochs:
        if not ep.simulated and ep.stimulus != "spontaneous":
            in_other[ep.start:ep.end] = True
    for mask, rate in ((~covered & in_other, spont + evoked), (~covered & ~in_other, spont)):
        frames = np.flatnonzero(mask)
        if frames.size == 0:
            continue
        who, when, amp = _constant_rate_events(rng, rate, frames.size, scale)
        np.add.at(events, (who, frames[when]), amp.astype(np.float32))
    return events, (l0_dff(events) if dff else None)


def l0_dff(events: np.ndarray) -> np.ndarray:
    """dF/F of L0 events: each event a GCaMP6f transient of half-life :data:`L0_HALF_LIFE_S`
    (its amplitude the event's), summed, on a grid of 1/128. ``float32`` like ``events``
    ``(cells, frames)``."""
    from scipy.signal import lfilter

    a = 2.0 ** (-1.0 / (L0_HALF_LIFE_S * IMAGING_RATE))
    trace = lfilter([1.0], [1, -a], events, axis=1)
    return (np.round(trace * 128) / 128).astype(np.float32)
