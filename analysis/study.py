"""The study as data: stimuli, areas, depths, cre lines, layers and species.

This module is the one place that names what the study analyses. Every other module
reads its vocabulary from here, and none compares stimulus names or hard-codes frame
counts: a step that depends on a stimulus asks its :class:`Stimulus` record (its
``kind``, its number of frames, its presentations per session, ...). Adding a stimulus
is adding a record to :data:`STIMULI` (plus, for the synthetic Brain Observatory, a
stand-in template: :mod:`analysis.stimuli` builds one for every movie record from its
``standin_seed``); see ``docs/DEVELOPING.md``.

Units: frames are stimulus frames (template frames: 30 per second for the movies);
depths are microns below the pia; ``presentations`` counts per session.

The four natural stimuli of the Allen Brain Observatory Visual Coding 2P survey
(``shared/reference/allen-brain-observatory.md``):

=======================  ======  ============  ======================  =============================
stimulus                 kind    frames        presentations/session   sessions
=======================  ======  ============  ======================  =============================
``natural_scenes``       static  118 images    50 per image            B
``natural_movie_one``    movie   900 (30 s)    10 repeats              A, B, C, C2
``natural_movie_two``    movie   900 (30 s)    10 repeats              C, C2
``natural_movie_three``  movie   3,600 (2 min)  5 repeats              A
=======================  ======  ============  ======================  =============================

The defaults (:data:`DEFAULT_STIMULI`, :data:`DEFAULT_DEPTHS`, ...) are the original
study's choices; the Makefile and the CLI read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Sequence, TypeVar

StimulusKind = Literal["static", "movie"]

#: Frames of one network input clip (0.5 s at 30 frames/s); a movie condition of the
#: original protocol is one clip, a static image is shown as a clip of identical frames.
CLIP_LEN: int = 15


@dataclass(frozen=True)
class Stimulus:
    """One natural stimulus of the survey.

    Attributes
    ----------
    name:
        AllenSDK stimulus name (stimulus tables, templates, ``get_ophys_experiments(stimuli=...)``).
    kind:
        ``"static"``: ``n_frames`` images, each a condition, flashed in random order
        (``frame == -1`` is the blank); ``"movie"``: ``n_frames`` consecutive frames
        played ``presentations`` times per session, binned into conditions.
    n_frames:
        Images (static) or movie frames of the template.
    presentations:
        Per session: presentations of each image (static) or repeats of the movie.
    sessions:
        Session types of the survey that show the stimulus.
    template_experiment:
        Ophys experiment whose NWB file the templates are read from (the original used
        the session-B experiment 501498760); ``None``: the lowest experiment id among
        those showing the stimulus.
    label:
        Display name in the book.
    default_bin:
        Frames per condition by default (movies: 15 = one clip, 0.5 s; static: 1).
    standin_seed:
        Seed of the deterministic stand-in template of the synthetic Brain Observatory.
    frame_s:
        Seconds one template frame stays on the screen (an image: 0.25; a movie frame: 1/30).
    """

    name: str
    kind: StimulusKind
    n_frames: int
    presentations: int
    sessions: tuple[str, ...]
    template_experiment: int | None
    label: str
    default_bin: int
    standin_seed: int
    frame_s: float

    @property
    def is_movie(self) -> bool:
        return self.kind == "movie"

    @property
    def sessions_per_container(self) -> int:
        """Sessions of one experiment container that show the stimulus (C2 replaces C)."""
        return len({st[:-1] if st.endswith("C2") else st for st in self.sessions})

    def n_conditions(self, movie_bin: int | None = None) -> int:
        """Conditions of an RDM: images, or movie frames // ``movie_bin`` (default :attr:`default_bin`)."""
        if not self.is_movie:
            return self.n_frames
        return self.n_frames // int(movie_bin or self.default_bin)

    def valid_bins(self) -> list[int]:
        """Frames per condition that divide the movie (static: ``[1]``)."""
        if not self.is_movie:
            return [1]
        return [d for d in range(1, self.n_frames + 1) if self.n_frames % d == 0]

    def check_bin(self, movie_bin: int) -> int:
        """``movie_bin`` if it divides the movie's frames; else a ValueError listing the valid ones."""
        if self.is_movie and (int(movie_bin) < 1 or self.n_frames % int(movie_bin)):
            raise ValueError(f"--movie-bin {movie_bin} does not divide the {self.n_frames} frames of "
                             f"{self.name}; valid: {', '.join(map(str, self.valid_bins()))}")
        return int(movie_bin)


#: Two-photon imaging rate of the survey (Hz, approximately; the synthetic rigs run at 30.08).
IMAGING_RATE_HZ: float = 30.0
#: Side of the square network input frames (pixels).
FRAME_SIZE: int = 64

#: Session types of the Visual Coding 2P survey, in acquisition order within a container.
SESSION_TYPES: tuple[str, ...] = ("three_session_A", "three_session_B", "three_session_C", "three_session_C2")

#: Experiment whose stimulus templates the original study used (a session B).
TEMPLATE_EXPERIMENT_ID: int = 501498760

#: Every natural stimulus of the survey, by name.
STIMULI: dict[str, Stimulus] = {s.name: s for s in (
    Stimulus("natural_scenes", "static", 118, 50, ("three_session_B",), TEMPLATE_EXPERIMENT_ID,
             "Natural Scenes", 1, 20240601, 0.25),
    Stimulus("natural_movie_one", "movie", 900, 10, SESSION_TYPES, TEMPLATE_EXPERIMENT_ID,
             "Natural Movie One", CLIP_LEN, 20240602, 1 / 30),
    Stimulus("natural_movie_two", "movie", 900, 10, ("three_session_C", "three_session_C2"), None,
             "Natural Movie Two", CLIP_LEN, 20240603, 1 / 30),
    Stimulus("natural_movie_three", "movie", 3600, 5, ("three_session_A",), None,
             "Natural Movie Three", CLIP_LEN, 20240604, 1 / 30),
)}
#: Names of every stimulus, in the order of the book.
STIMULUS_NAMES: tuple[str, ...] = tuple(STIMULI)
#: Stimuli of the original study (the default of every command).
DEFAULT_STIMULI: tuple[str, ...] = ("natural_scenes", "natural_movie_one")

#: Visual areas, in the order of the original figure panels (row-major, 2 x 3 grid).
AREAS: tuple[str, ...] = ("VISl", "VISp", "VISpm", "VISal", "VISam")
#: Imaging depths (um) of the original study (the default grid).
DEFAULT_DEPTHS: tuple[int, ...] = (175, 275)
#: Range of imaging depths (um) of the Visual Coding 2P survey's imaging planes: a
#: synthetic depth outside it is a typo, not a new data set.
SURVEY_DEPTH_RANGE: tuple[int, int] = (175, 625)
#: Cre line of the original study.
CRE_LINE: str = "Cux2-CreERT2"
#: Cre lines of the Visual Coding 2P survey.
CRE_LINES: tuple[str, ...] = (
    "Cux2-CreERT2", "Emx1-IRES-Cre", "Fezf2-CreER", "Nr5a1-Cre", "Ntsr1-Cre_GN220", "Pvalb-IRES-Cre",
    "Rbp4-Cre_KL100", "Rorb-IRES2-Cre", "Scnn1a-Tg3-Cre", "Slc17a7-IRES2-Cre", "Sst-IRES-Cre",
    "Tlx3-Cre_PL56", "Vip-IRES-Cre",
)
#: Global seed of the analysis (the original used 42).
SEED: int = 42
#: Data sources: the embedded synthetic Brain Observatory, or the real Allen one.
SOURCES: tuple[str, ...] = ("synthetic", "allen")
#: Default bootstrap draws of the intervals and tests (0 = no inference).
N_BOOT: int = 1000
#: Brain RDMs of random trial halves (original protocol) and noise-ceiling splits.
N_BRAIN_RDMS: int = 100
N_SPLITS: int = 100

#: Species of the networks (figure order).
SPECIES: tuple[str, ...] = ("rat", "treeshrew")
#: Network layers in figure order. ``s1`` and ``out`` are shared by both pathways.
LAYERS: tuple[str, ...] = (
    ("s1",)
    + tuple(f"p1_res_block{i}" for i in range(1, 7))
    + tuple(f"p2_res_block{i}" for i in range(1, 7))
    + ("out",)
)
#: Name of the pixel baseline "layer".
PIXEL_LAYER: str = "pixel"


T = TypeVar("T")


def validate_choice(name: str, value: T, valid: Iterable[T]) -> T:
    """Return ``value`` if it is one of ``valid``; else raise a ValueError listing them.

    >>> validate_choice("area", "VISp", AREAS)
    'VISp'
    """
    valid = tuple(valid)
    if value not in valid:
        listed = ", ".join(str(v) for v in valid)
        raise ValueError(f"unknown {name} {value!r}; valid {name} values: {listed}")
    return value


def validate_choices(name: str, values: Sequence[T], valid: Iterable[T]) -> list[T]:
    """Validate every element of ``values`` with :func:`validate_choice`."""
    valid = tuple(valid)
    return [validate_choice(name, v, valid) for v in values]


def get_stimulus(name: str) -> Stimulus:
    """The :class:`Stimulus` called ``name``; a ValueError listing the valid names otherwise."""
    if name not in STIMULI:
        raise ValueError(f"unknown stimulus {name!r}; valid stimulus values: {', '.join(STIMULUS_NAMES)}")
    return STIMULI[name]


def stimuli_in_session(session_type: str, among: Iterable[str] = STIMULUS_NAMES) -> tuple[str, ...]:
    """Stimuli of ``among`` that a session type shows (book order)."""
    among = set(among)
    return tuple(s.name for s in STIMULI.values() if s.name in among and session_type in s.sessions)


def layer_pathway(layer: str) -> str:
    """Pathway a layer belongs to: ``"P1"``, ``"P2"``, ``"shared"`` or ``"pixel"``."""
    if layer == PIXEL_LAYER:
        return "pixel"
    if layer.startswith("p1_"):
        return "P1"
    if layer.startswith("p2_"):
        return "P2"
    if layer in ("s1", "out"):
        return "shared"
    raise ValueError(f"unknown layer {layer!r}; valid layers: {', '.join(LAYERS + (PIXEL_LAYER,))}")


def unique(name: str, values: Sequence) -> list:
    """``values`` without repeats; a ValueError naming the repeated ones (``--areas VISp VISp``)."""
    seen, dup = [], []
    for v in values:
        (dup if v in seen else seen).append(v)
    if dup:
        raise ValueError(f"{name} repeated: {', '.join(map(str, dict.fromkeys(dup)))}; give each once")
    return seen


def check_depth(depth: int, source: str) -> int:
    """A positive integer depth; for the synthetic source within :data:`SURVEY_DEPTH_RANGE`."""
    try:
        d = int(depth)
    except (TypeError, ValueError):
        raise ValueError(f"depth must be an integer number of microns; got {depth!r}") from None
    if d <= 0 or d != depth:
        raise ValueError(f"depth must be a positive integer number of microns; got {depth!r}")
    lo, hi = SURVEY_DEPTH_RANGE
    if source == "synthetic" and not lo <= d <= hi:
        raise ValueError(f"depth {d} um lies outside the survey's imaging planes ({lo}-{hi} um); "
                         f"the defaults are {', '.join(map(str, DEFAULT_DEPTHS))}")
    return d
