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
``ceiling``                ``"split_half"`` (raw      ``"spearman_brown"`` (``rdm.
                           half-vs-half tau-a)        split_half_ceiling_sb``, mean over
                                                      containers), plus Nili lower/upper bounds
                                                      across containers (``rdm.nili_bounds``),
                                                      which bound the mean-over-subjects score
=========================  =========================  ===========================================

Latency: the synthetic generator uses 2-3 (+0/1) frames; mouse visual cortex
responds 50-100 ms after onset and L0 events are deconvolved (no GCaMP decay to
wait for), so 3 frames (100 ms) and an 8-frame window keep each scene's
response mostly its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import config

CEILINGS = ("split_half", "spearman_brown")
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

    def __post_init__(self) -> None:
        config.validate_choice("missing", self.missing, ("error", "nan"))
        config.validate_choice("match rule", self.match_rule, ("average", "concatenate"))
        config.validate_choice("brain RDMs", self.brain_rdms, BRAIN_RDMS)
        config.validate_choice("ceiling", self.ceiling, CEILINGS)
        if self.scene_latency < 0 or self.movie_latency < 0 or self.scene_window < 1:
            raise ValueError(
                f"latencies must be >= 0 and the window >= 1 frame; got scene_latency="
                f"{self.scene_latency}, movie_latency={self.movie_latency}, scene_window={self.scene_window}"
            )
        if self.reliability_threshold is not None and not -1 <= self.reliability_threshold <= 1:
            raise ValueError(f"reliability_threshold must lie in [-1, 1] or be None; got {self.reliability_threshold}")

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for provenance JSON and cache keys)."""
        return asdict(self)


ORIGINAL = Protocol(
    name="original", match_cells=False, match_rule="average", missing="error",
    reliability_threshold=None, reliability_splits=20, scene_latency=0, scene_window=15,
    movie_latency=0, keep_aspect=False, pad_value=0.5, brain_rdms="halves",
    ceiling="split_half", nili_bounds=False,
)

CORRECTED = Protocol(
    name="corrected", match_cells=True, match_rule="average", missing="nan",
    reliability_threshold=None, reliability_splits=20, scene_latency=3, scene_window=8,
    movie_latency=3, keep_aspect=True, pad_value=0.5, brain_rdms="all_trials",
    ceiling="spearman_brown", nili_bounds=True,
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (ORIGINAL, CORRECTED)}


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name`` (``"original"`` or ``"corrected"``)."""
    config.validate_choice("protocol", name, tuple(PROTOCOLS))
    return PROTOCOLS[name]


def session_tensor(session: Any, stimulus: str, protocol: Protocol, movie_bin: int = 15):
    """``(trials, conditions, cells)`` of one :class:`analysis.allen.Session` under ``protocol``."""
    from . import responses

    config.validate_choice("stimulus", stimulus, config.STIMULI)
    if stimulus == "natural_scenes":
        return responses.scene_responses(session.events, session.stim_table, window=protocol.scene_window,
                                         latency=protocol.scene_latency, missing=protocol.missing)
    return responses.movie_responses(session.events, session.stim_table, movie_bin=movie_bin,
                                     latency=protocol.movie_latency, missing=protocol.missing)


def subject_tensors(boc: Any, stimulus: str, area: str, depth: int, protocol: Protocol, *,
                    cre_line: str = config.CRE_LINE, movie_bin: int = 15, seed: int = config.SEED):
    """Per experiment container (subject): its responses under ``protocol``.

    Returns ``{container_id: MatchedCells}`` (sorted by container id). With
    ``protocol.match_cells`` the container's sessions are merged by
    cell_specimen_id (:func:`analysis.responses.match_cells`); otherwise its
    sessions' neurons are concatenated as in the original (ids repeated). With a
    ``reliability_threshold`` only the reliable cells are kept (random trial
    splits from ``rdm.derive_rng(seed, stimulus, depth, area, container, "reliability")``).
    Pool the containers' cells with :func:`pool_subjects`.
    """
    import numpy as np

    from . import allen, rdm, responses

    experiments = allen.select_experiments(boc, stimulus, area, int(depth), cre_line)
    by_container: dict[int, list] = {}
    for e in experiments:
        by_container.setdefault(e.container_id, []).append(e)
    out = {}
    for cid in sorted(by_container):
        sessions = [allen.load_session(boc, e.experiment_id, stimulus) for e in by_container[cid]]
        tensors = [session_tensor(s, stimulus, protocol, movie_bin) for s in sessions]
        ids = [s.cell_specimen_ids for s in sessions]
        if protocol.match_cells:
            m = responses.match_cells(tensors, ids, rule=protocol.match_rule)
        else:
            m = responses.MatchedCells(responses.pool_neurons(tensors), np.concatenate(ids),
                                       np.ones(sum(len(i) for i in ids), np.int64))
        if protocol.reliability_threshold is not None:
            keep = responses.reliable_cells(
                m.responses, protocol.reliability_threshold,
                rdm.derive_rng(seed, stimulus, int(depth), area, cid, "reliability"), protocol.reliability_splits)
            m = responses.MatchedCells(m.responses[:, :, keep], m.cell_specimen_ids[keep], m.n_sessions[keep])
        out[cid] = m
    return out


def pool_subjects(subjects: dict) -> Any:
    """Concatenate the containers' cells (distinct animals: no id is shared) -> ``MatchedCells``."""
    import numpy as np

    from . import responses

    ms = list(subjects.values())
    return responses.MatchedCells(responses.pool_neurons([m.responses for m in ms]),
                                  np.concatenate([m.cell_specimen_ids for m in ms]),
                                  np.concatenate([m.n_sessions for m in ms]))
