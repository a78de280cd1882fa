"""The design of the synthetic data: constants, area and depth parameters, presets, the plant.

Session stimuli (:func:`session_stimuli`, :func:`extra_stimuli`), the neural model's
parameters (documented in :mod:`analysis.synthetic`), the sizes of a data set
(:class:`Preset`, :data:`PRESETS`), a known answer to plant (:class:`Plant`) and the
random streams (:func:`_rng`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from .. import study

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
    #: Cre line whose real survey design the preset copies (:mod:`analysis.synthetic.survey`:
    #: containers, cells per session, session length and epoch order, L0 kinetics), or None
    #: for the compact design of the generator's first versions.
    survey: str | None = None
    #: Share of the survey's cells per session that a survey preset images (tests: fewer).
    cell_fraction: float = 1.0


def _survey_preset(name: str, cre_line: str, extra: tuple[tuple[str, str, int, bool], ...]) -> Preset:
    """A preset with the real survey's design of ``cre_line`` (containers and cells from its survey file)."""
    from .survey import load_survey

    sv = load_survey(cre_line)
    per_area: dict[str, list[int]] = {}
    for (area, _), rows in sv.cells.items():
        per_area.setdefault(area, []).extend(r["three_session_B"] for r in rows)
    cells = {a: int(np.median(per_area[a])) for a in study.AREAS}
    depths = tuple(sorted({d for _, d in sv.cells}))
    return Preset(name=name, areas=study.AREAS, depths=depths, containers=sv.containers(), cells=cells,
                  scenes_shape=(118, 918, 1174), movie_shape=(900, 304, 608), extra=extra, survey=cre_line)


PRESETS: dict[str, Preset] = {
    # The real Cux2-CreERT2 survey's design: 63 containers, their cells per session, sessions
    # of the real length and epoch order, a response model calibrated to the published
    # ceilings (analysis.synthetic.calibrate).
    "default": _survey_preset("default", study.CRE_LINE,
                              (("Cux2-CreERT2", "VISam", 275, True), ("Rorb-IRES2-Cre", "VISp", 275, False))),
    # The generator's first design (3 containers per area and depth, ~55,000-frame sessions
    # with the two natural stimuli only); kept for comparison and quick runs.
    "compact": Preset(
        name="compact",
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
    # The survey design on a small scale (tests): two VISp containers at 175 um with a tenth of
    # their real cells, the small templates; sessions of the real length and epoch order.
    "small_survey": Preset(
        name="small_survey", areas=("VISp",), depths=(175,), containers={("VISp", 175): 2},
        cells={"VISp": 20}, scenes_shape=(118, 92, 118), movie_shape=(900, 32, 64),
        survey=study.CRE_LINE, cell_fraction=0.1),
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


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *[int(k) for k in keys]]))
