"""The brain side of a run: recordings -> response tensors -> brain RDMs and noise ceilings.

For one area, under one :class:`analysis.protocols.Protocol` and one
:class:`analysis.study.Stimulus`::

    experiments (allen.select_experiments)
      -> one tensor per session at full resolution (responses.session_tensor; cached)
      -> binned (movies: movie_bin frames per condition)
      -> one subject per experiment container: its sessions' cells concatenated
         (``match_cells=False``, the original) or matched by cell_specimen_id, optionally
         filtered for reliable cells                                    (subject_tensors)
      -> the area's cells pooled over containers                        (AreaData)
      -> brain RDMs, noise-ceiling draws, Nili bounds                   (area_rdms; cached)

Every choice is read from the protocol's settings (``response_settings``,
``subject_settings``, ``brain_settings``), never from its name, and each cached entry's
key holds the settings it depends on.

Session tensors are cached per experiment at full resolution (a movie at frame level), so
a run with another ``movie_bin`` loads no event trace again. Binning each session before
merging a container's sessions is what both protocols always did; for the original's
concatenation it equals binning the pooled tensor exactly (block means along conditions
commute with concatenation along cells).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

import numpy as np

from . import allen, cache, rdm, responses
from .protocols import Protocol
from .study import Stimulus

if TYPE_CHECKING:
    from .pipeline import RunConfig


# --------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------


@dataclass
class AreaData:
    """Pooled responses of one area: ``responses`` ``(trials, conditions, neurons)``.

    ``subjects``: the experiment containers (sorted ids); ``groups`` ``(neurons,)`` int:
    the index in ``subjects`` of each neuron's container (``None`` once slimmed);
    ``fingerprint``: a key over everything the responses depend on.
    """

    area: str
    experiments: list[allen.Experiment]
    responses: np.ndarray | None
    fingerprint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    shape: tuple[int, ...] = ()
    subjects: tuple[int, ...] = ()
    groups: np.ndarray | None = None
    _split: list[np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.responses is not None:
            self.shape = tuple(int(x) for x in self.responses.shape)

    def slim(self) -> "AreaData":
        """A copy without the response tensor (its shape kept), for passing between workers."""
        return AreaData(self.area, self.experiments, None, self.fingerprint, dict(self.extra), self.shape,
                        self.subjects, None)

    def subject_tensors(self) -> list[np.ndarray]:
        """Each container's ``(trials, conditions, cells)`` (copies of its cells of :attr:`responses`).

        Made once and kept (do not modify them): the original protocol's bootstrap asks for
        each container's half-trial means ~100 times per area, and splitting the pooled
        tensor each time took ~3 s of a scenes area's 13 s bootstrap.
        """
        if self.responses is None or self.groups is None:
            raise ValueError(f"{self.area}: the responses were dropped (slim copy)")
        if self._split is None:
            self._split = [self.responses[:, :, self.groups == s] for s in range(len(self.subjects))]
        return self._split

    def subject_patterns(self, trials: np.ndarray | None = None) -> list[np.ndarray]:
        """Each container's trial-mean patterns ``(conditions, cells)`` over ``trials`` (default all).

        Means over the valid trials (:func:`analysis.responses.trial_mean`); cells without a
        valid trial in some condition are left out, as :func:`analysis.rdm.mean_rdm` does.
        """
        out = []
        for t in self.subject_tensors():
            m = responses.trial_mean(t if trials is None else t[trials])
            out.append(m[:, responses.complete_cells(m)])
        return out


def session_responses(boc: Any, experiment: allen.Experiment, stimulus: Stimulus, spec: Protocol
                      ) -> tuple[np.ndarray, np.ndarray, str]:
    """``(tensor, cell_specimen_ids, key)`` of one session at full resolution (cached).

    Keyed on the content of the experiment's files, the stimulus record's counts and the
    protocol's response settings (window, latency, missing presentations).
    """
    parts = {
        "experiment": int(experiment.experiment_id),
        "files": allen.experiment_fingerprint(boc, experiment.experiment_id),
        "stimulus": stimulus.name, "n_frames": stimulus.n_frames, "presentations": stimulus.presentations,
        "settings": spec.response_settings(stimulus),
    }

    def compute() -> dict[str, np.ndarray]:
        s = allen.load_session(boc, experiment.experiment_id, stimulus.name)
        return {"responses": responses.session_tensor(s.events, s.stim_table, stimulus, spec),
                "cell_specimen_ids": s.cell_specimen_ids}

    data = cache.get_or_compute("responses", parts, compute)
    return data["responses"], data["cell_specimen_ids"], cache.make_key("responses", parts)


def merge_container(tensors: Sequence[np.ndarray], ids: Sequence[np.ndarray], spec: Protocol, *, seed: int,
                    labels: tuple[str, int, str], container_id: int) -> responses.MatchedCells:
    """One container's sessions ``(trials, conditions, cells_i)`` (already binned) as one subject.

    With ``spec.match_cells`` matched by cell_specimen_id (:func:`analysis.responses.match_cells`),
    otherwise concatenated as in the original (ids repeated); with a
    ``reliability_threshold`` only the reliable cells are kept (random trial splits from
    ``rdm.derive_rng(seed, stimulus, depth, area, container, "reliability")``; ``labels`` =
    (stimulus, depth, area)).
    """
    if spec.match_cells:
        m = responses.match_cells(list(tensors), list(ids), rule=spec.match_rule)
    else:
        m = responses.MatchedCells(responses.pool_neurons(list(tensors)), np.concatenate(ids),
                                   np.ones(sum(len(i) for i in ids), np.int64))
    if spec.reliability_threshold is not None:
        stimulus, depth, area = labels
        keep = responses.reliable_cells(
            m.responses, spec.reliability_threshold,
            rdm.derive_rng(seed, stimulus, int(depth), area, container_id, "reliability"), spec.reliability_splits)
        m = responses.MatchedCells(m.responses[:, :, keep], m.cell_specimen_ids[keep], m.n_sessions[keep])
    return m


class Subjects(NamedTuple):
    """Per experiment container (sorted by id): ``cells[i]`` a :class:`responses.MatchedCells`."""

    container_ids: tuple[int, ...]
    cells: list[responses.MatchedCells]
    experiments: list[allen.Experiment]
    fingerprint: str


def subject_tensors(boc: Any, stimulus: Stimulus, area: str, depth: int, spec: Protocol, *,
                    cre_line: str, movie_bin: int, seed: int) -> Subjects:
    """An area's experiment containers (subjects) and their responses under ``spec``.

    Each session's tensor (:func:`session_responses`) is binned to ``movie_bin`` frames
    per condition (movies), then a container's sessions are merged: with
    ``spec.match_cells`` by cell_specimen_id (:func:`analysis.responses.match_cells`),
    otherwise concatenated as in the original (ids repeated). With a
    ``reliability_threshold`` only the reliable cells are kept (random trial splits from
    ``rdm.derive_rng(seed, stimulus, depth, area, container, "reliability")``).
    """
    experiments = allen.select_experiments(boc, stimulus.name, area, int(depth), cre_line)
    by_container: dict[int, list[allen.Experiment]] = {}
    for e in experiments:
        by_container.setdefault(e.container_id, []).append(e)
    keys, out = [], []
    for cid in sorted(by_container):
        tensors, ids = [], []
        for e in by_container[cid]:
            t, c, key = session_responses(boc, e, stimulus, spec)
            tensors.append(responses.bin_conditions(t, movie_bin) if stimulus.is_movie else t)
            ids.append(c)
            keys.append(key)
        out.append(merge_container(tensors, ids, spec, seed=seed, labels=(stimulus.name, int(depth), area),
                                   container_id=cid))
    parts: dict[str, Any] = {"sessions": keys, "subjects": spec.subject_settings(), "movie_bin": int(movie_bin)}
    if spec.reliability_threshold is not None:
        parts.update(seed=int(seed), labels=[stimulus.name, int(depth), area])
    return Subjects(tuple(sorted(by_container)), out, experiments, cache.make_key("responses", parts))


def pool_subjects(area: str, subj: Subjects) -> AreaData:
    """The subjects' cells pooled (concatenated in container order) as :class:`AreaData`."""
    sizes = [m.responses.shape[2] for m in subj.cells]
    return AreaData(area, subj.experiments, responses.pool_neurons([m.responses for m in subj.cells]),
                    subj.fingerprint, subjects=subj.container_ids, groups=np.repeat(np.arange(len(sizes)), sizes))


def area_responses(boc: Any, cfg: "RunConfig", area: str) -> AreaData:
    """An area's subjects (:func:`subject_tensors`) under the run's settings, pooled."""
    return pool_subjects(area, subject_tensors(boc, cfg.stim, area, int(cfg.depth), cfg.spec, cre_line=cfg.cre_line,
                                               movie_bin=cfg.movie_bin, seed=cfg.seed))


# --------------------------------------------------------------------------------------
# Brain RDMs and noise ceilings
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BrainSide:
    """What an area's scores are computed against.

    ``rdms`` ``(n_rdms, n_pairs)``: a model's score is its mean tau-a over them (the
    ``halves`` of the pooled cells, or one all-trial RDM per container); ``ceiling``
    ``(n_splits,)``: noise-ceiling draws of the protocol's estimator; ``nili`` ``(4,)``: Nili
    lower, upper bound and their SDs over subjects (NaN when the protocol asks for none or
    with fewer than 2 subjects); ``ceilings``: the draws of every estimator of
    :data:`analysis.rdm.CEILING_ESTIMATORS` on the same splits (for the robustness chapter).
    """

    rdms: np.ndarray
    ceiling: np.ndarray
    nili: np.ndarray
    key: str = ""  # the cache key of rdms, ceiling and nili
    ceilings: dict[str, np.ndarray] = field(default_factory=dict)


def check_defined(rdms: np.ndarray, n_conditions: int, labels: Sequence[object]) -> None:
    """A ValueError naming the conditions whose dissimilarities are undefined (NaN).

    A condition to which no cell of the area responds (in some trial half) has a constant
    pattern, so its correlation distance to every other condition is undefined and no
    tau-a can be computed. ``labels``: (stimulus, depth, area).
    """
    bad = ~np.isfinite(rdms)
    if not bad.any():
        return
    i, j = np.triu_indices(n_conditions, 1)
    counts = np.bincount(np.concatenate([i[bad.any(axis=0)], j[bad.any(axis=0)]]), minlength=n_conditions)
    conditions = np.flatnonzero(counts == n_conditions - 1)  # undefined against every other condition
    stimulus, depth, area = (list(labels) + ["?", "?", "?"])[:3]
    which = (f"condition(s) {', '.join(map(str, conditions[:10]))}" if conditions.size
             else f"{int(bad.any(axis=0).sum())} condition pairs")
    raise ValueError(
        f"{stimulus} at {depth} um, {area}: {which} have undefined correlation distances in "
        f"{int(bad.any(axis=1).sum())} of {rdms.shape[0]} brain RDMs: no cell of the area responds to them "
        "(a constant response pattern); drop the area (--areas) or use more trials or cells")


def brain_side(area: AreaData, spec: Protocol, n_brain_rdms: int, n_splits: int, seed: int,
               labels: Sequence[object], ceiling_label: str = "noise_ceiling") -> dict[str, np.ndarray]:
    """Brain RDMs, ceiling draws and Nili bounds of one area (uncached; see :func:`area_rdms`).

    ``brain_rdms="halves"``: the pooled cells' RDMs of ``n_brain_rdms`` random trial halves
    (generator ``derive_rng(seed, *labels, "brain_rdms")``), and the ceiling of the pooled
    cells; ``"all_trials"``: each container's all-trial RDM
    (:func:`analysis.rdm.mean_rdm`), and per split the mean over containers of their
    ceilings (generator ``derive_rng(seed, *labels, "noise_ceiling")``, drawn container after
    container), i.e. the reliability of the scored RDMs on the scale of the scores. The
    estimator is the protocol's ``ceiling`` (:func:`analysis.rdm.split_half_ceilings`: the
    original's row-0 tau-a, the full-RDM split-half tau-a or its Spearman-Brown
    correction); the draws of all three, on the same splits, are returned as
    ``ceiling_<estimator>``. ``ceiling_label`` names the ceiling's generator (the ground
    truth draws its own).
    """
    pooled = spec.brain_rdms == "halves"
    subjects = [area.responses] if pooled else area.subject_tensors()
    if pooled:
        rdms = rdm.brain_rdms(area.responses, n_brain_rdms, rdm.derive_rng(seed, *labels, "brain_rdms"))
    else:
        rdms = np.concatenate([rdm.mean_rdm(t) for t in subjects])
    check_defined(rdms, area.shape[1], labels)
    ceiling_rng = rdm.derive_rng(seed, *labels, ceiling_label)
    draws = [rdm.split_half_ceilings(t, n_splits, ceiling_rng) for t in subjects]
    every = {f"ceiling_{e}": np.mean([d[e] for d in draws], axis=0) for e in rdm.CEILING_ESTIMATORS}
    ceiling = every[f"ceiling_{spec.ceiling}"]
    nili = np.full(4, np.nan)
    if spec.nili_bounds and rdms.shape[0] >= 2:
        nb = rdm.nili_bounds(rdms)
        nili = np.array([nb.lower, nb.upper, np.std(nb.lower_each), np.std(nb.upper_each)])
    return {"rdms": rdms, "ceiling": ceiling, "nili": nili, **every}


def area_rdms(area: AreaData, cfg: "RunConfig") -> BrainSide:
    """:func:`brain_side` of one area under the run's protocol, cached."""
    spec = cfg.spec
    parts: dict[str, Any] = {
        "responses": area.fingerprint, "brain": spec.brain_settings(), "seed": cfg.seed,
        "n_splits": cfg.n_splits, "labels": [cfg.stimulus, int(cfg.depth), area.area],
    }
    if spec.brain_rdms == "halves":
        parts["n_brain_rdms"] = cfg.n_brain_rdms
    data = cache.get_or_compute("brain_rdms", parts, lambda: brain_side(
        area, spec, cfg.n_brain_rdms, cfg.n_splits, cfg.seed, (*cfg.labels, area.area)))
    ceilings = {e: data[f"ceiling_{e}"] for e in rdm.CEILING_ESTIMATORS}
    return BrainSide(data["rdms"], data["ceiling"], data["nili"], cache.make_key("brain_rdms", parts), ceilings)
