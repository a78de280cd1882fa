"""The two analysis protocols, as data: the faithful ``original`` and the ``corrected`` one.

A :class:`Protocol` says how recordings become response tensors and RDMs and how
stimuli become network inputs. :data:`ORIGINAL` reproduces the original study
(the reference notes ``original-protocol.md``); :data:`CORRECTED` fixes the
weaknesses listed there, one field per fix:

=========================  =========================  ===========================================
field                      original                   corrected
=========================  =========================  ===========================================
``match_cells``            ``False`` (a cell imaged   ``True``: matched by cell_specimen_id and
                           in A, B, C counts 3x)      counted once (``responses.match_cells``,
                                                      rule ``match_rule``)
``missing``                ``"error"`` (the original  ``"nan"``: missing presentations are NaN,
                           left garbage; we refuse)   means over valid trials, cells without a
                                                      valid trial in a condition dropped
``reliability_threshold``  ``None``                   ``None`` by default (optional filter,
                                                      ``responses.reliable_cells``)
``scene_latency``          0 frames                   3 frames (100 ms at 30 Hz)
``scene_window``           15 frames (spans the next  8 frames (~ one 250-ms presentation)
                           image)
``movie_latency``          0 frames                   3 frames
``keep_aspect``            ``False`` (squashed)       ``True``: ``features.make_clips(...,
                                                      keep_aspect=True)``: longer side to 64,
                                                      centred on mean grey (pad, not squash)
``brain_rdms``             ``"halves"`` (100 RDMs of  ``"all_trials"`` (``rdm.mean_rdm``), one
                           random half-trial means    per container; the score is the mean
                           of the pooled cells)       over containers
``ceiling``                ``"row0"`` (tau-a of row   ``"spearman_brown"`` (full-RDM split-half
                           0 of the two halves'       tau-a stepped up, mean over containers),
                           RDMs: condition 0 alone,   plus Nili lower/upper bounds across
                           as the original's code     containers (``rdm.nili_bounds``), which
                           computed)                  bound the mean-over-subjects score
``event_sum``              ``"float32"`` (the event   ``"float64"``
                           traces' type)
=========================  =========================  ===========================================

Latency: the synthetic generator uses 2-3 (+0/1) frames; mouse visual cortex
responds 50-100 ms after onset and L0 events are deconvolved (no GCaMP decay to
wait for), so 3 frames (100 ms) and an 8-frame window keep each scene's
response mostly its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import study
from .study import Stimulus

#: Noise-ceiling estimators (:func:`analysis.rdm.split_half_ceilings`): ``row0`` (tau-a of
#: row 0 of two trial halves' RDMs: what the original's code computed), ``split_half``
#: (tau-a of the halves' full RDMs: what it described), ``spearman_brown`` (the latter
#: stepped up to the full number of trials).
CEILINGS = ("row0", "split_half", "spearman_brown")
#: Float types in which a static stimulus's events are summed over the window.
EVENT_SUMS = ("float32", "float64")
#: What a model is scored against: ``halves`` (``n_brain_rdms`` RDMs of random trial halves
#: of the area's cells pooled over containers; the score is the mean over them) or
#: ``all_trials`` (each container's all-trial RDM; the score is the mean over containers).
BRAIN_RDMS = ("halves", "all_trials")


@dataclass(frozen=True)
class Protocol:
    """Settings of one protocol (see the module docstring for the meaning of each)."""

    name: str
    match_cells: bool
    match_rule: str
    missing: str
    reliability_threshold: float | None
    reliability_splits: int
    scene_latency: int
    scene_window: int
    movie_latency: int
    keep_aspect: bool
    pad_value: float
    brain_rdms: str
    ceiling: str
    nili_bounds: bool
    event_sum: str = "float64"

    def __post_init__(self) -> None:
        study.validate_choice("missing", self.missing, ("error", "nan"))
        study.validate_choice("match rule", self.match_rule, ("average", "concatenate"))
        study.validate_choice("brain RDMs", self.brain_rdms, BRAIN_RDMS)
        study.validate_choice("ceiling", self.ceiling, CEILINGS)
        study.validate_choice("event sum", self.event_sum, EVENT_SUMS)
        if self.scene_latency < 0 or self.movie_latency < 0 or self.scene_window < 1:
            raise ValueError(
                f"latencies must be >= 0 and the window >= 1 frame; got scene_latency="
                f"{self.scene_latency}, movie_latency={self.movie_latency}, scene_window={self.scene_window}"
            )
        if self.reliability_threshold is not None and not -1 <= self.reliability_threshold <= 1:
            raise ValueError(f"reliability_threshold must lie in [-1, 1] or be None; got {self.reliability_threshold}")
        if self.nili_bounds and self.brain_rdms != "all_trials":
            raise ValueError(f"protocol {self.name!r}: nili_bounds need one RDM per container "
                             f"(brain_rdms='all_trials'); got brain_rdms={self.brain_rdms!r}")

    # What each step reads. Each dict goes into the cache key of that step's entries.

    def window(self, stimulus: Stimulus) -> int | None:
        """Frames summed per presentation (static stimuli); ``None`` for movies (one frame)."""
        return None if stimulus.is_movie else self.scene_window

    def latency(self, stimulus: Stimulus) -> int:
        """Frames between a presentation's start and its response window."""
        return self.movie_latency if stimulus.is_movie else self.scene_latency

    def response_settings(self, stimulus: Stimulus) -> dict[str, Any]:
        """Settings that turn one session's events into its response tensor."""
        out: dict[str, Any] = {"window": self.window(stimulus), "latency": self.latency(stimulus),
                               "missing": self.missing}
        if not stimulus.is_movie:
            out["event_sum"] = self.event_sum
        return out

    def subject_settings(self) -> dict[str, Any]:
        """Settings that merge a container's sessions into one subject (cells, reliability)."""
        out: dict[str, Any] = {"match_cells": self.match_cells, "reliability_threshold": self.reliability_threshold}
        if self.match_cells:
            out["match_rule"] = self.match_rule
        if self.reliability_threshold is not None:
            out["reliability_splits"] = self.reliability_splits
        return out

    def brain_settings(self) -> dict[str, Any]:
        """Settings of the brain RDMs, the noise ceiling and its bounds."""
        return {"brain_rdms": self.brain_rdms, "ceiling": self.ceiling, "nili_bounds": self.nili_bounds}

    def clip_settings(self) -> dict[str, Any]:
        """Settings that turn a stimulus template into network input clips."""
        return {"keep_aspect": self.keep_aspect, "pad_value": self.pad_value}

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for provenance JSON and cache keys)."""
        return asdict(self)


ORIGINAL = Protocol(
    name="original", match_cells=False, match_rule="average", missing="error",
    reliability_threshold=None, reliability_splits=20, scene_latency=0, scene_window=15,
    movie_latency=0, keep_aspect=False, pad_value=0.5, brain_rdms="halves",
    ceiling="row0", nili_bounds=False, event_sum="float32",
)

CORRECTED = Protocol(
    name="corrected", match_cells=True, match_rule="average", missing="nan",
    reliability_threshold=None, reliability_splits=20, scene_latency=3, scene_window=8,
    movie_latency=3, keep_aspect=True, pad_value=0.5, brain_rdms="all_trials",
    ceiling="spearman_brown", nili_bounds=True,
)

#: Every protocol by name; the first is the default. A new protocol is a :class:`Protocol`
#: added here (or with :func:`register`): every step reads its settings, none its name.
PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (ORIGINAL, CORRECTED)}
#: Protocols run by default (``results``/``paper``).
DEFAULT_PROTOCOLS: tuple[str, ...] = ("original", "corrected")


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; a ValueError listing the valid names otherwise."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; valid protocols: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def register(protocol: Protocol) -> Protocol:
    """Add ``protocol`` to :data:`PROTOCOLS` (a ValueError if its name is taken by another)."""
    if PROTOCOLS.get(protocol.name, protocol) != protocol:
        raise ValueError(f"a different protocol is already called {protocol.name!r}")
    PROTOCOLS[protocol.name] = protocol
    return protocol
