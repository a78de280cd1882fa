"""Sessions of the survey design: one container's population and its sessions' events.

The one place that turns a container of a survey preset (:func:`analysis.synthetic.survey`)
into events, used both by the file writer (:mod:`analysis.synthetic.build`) and by the
in-memory studies that need the same data without files (the calibration of the response
model, :mod:`analysis.synthetic.calibrate`; the identifiability study,
:mod:`analysis.identifiability`). Random streams (``seed``, container id, experiment id):

* ``(seed, container)``: the population (:func:`analysis.synthetic.make_population`);
* ``(seed, container, experiment)``: which cells the session images, the scenes' order;
* ``(seed, container, experiment, 100 + k)``: the events of the session's epoch ``k``;
* ``(seed, container, experiment, 99)``: constant-rate firing outside the simulated epochs;

So the events of one stimulus's epochs depend on the population, the session and that
stimulus's response parameters alone: the calibration can resimulate them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .. import study
from .design import _BASE_MOVIE, _BASE_STATIC, _rng
from .neurons import Population, simulate_survey_session
from .records import ContainerSpec
from .response_model import ResponseModel
from .timeline import Epoch, Timeline, survey_timeline

EPOCH_STREAM = 100
OTHER_STREAM = 99


@dataclass
class SurveySession:
    """One simulated session: imaged ``cells`` (indices into the container's pool), its
    timeline and epochs, ``events`` ``float32 (cells, frames)`` and ``dff`` (or None)."""

    experiment_id: int
    session_type: str
    cells: np.ndarray
    timeline: Timeline
    epochs: list[Epoch]
    events: np.ndarray
    dff: np.ndarray | None

    def table(self, stimulus: str) -> pd.DataFrame:
        """The stimulus table as :func:`analysis.allen.load_session` returns it
        (``frame, start, end`` and, for movies, ``repeat``; sorted by start)."""
        return stimulus_table(self.timeline, stimulus)


def stimulus_table(tl: Timeline, stimulus: str) -> pd.DataFrame:
    """``frame, start, end`` (+ ``repeat`` for a movie: whole runs of its frames, as AllenSDK derives it)."""
    data, frames = tl.tables[stimulus]
    table = pd.DataFrame({"frame": np.asarray(data, np.int64), "start": frames[:, 0].astype(np.int64),
                          "end": frames[:, 1].astype(np.int64)})
    if study.get_stimulus(stimulus).is_movie:
        table["repeat"] = np.cumsum(table["frame"].to_numpy() == 0) - 1
    return table.sort_values(["start", "end"], kind="stable").reset_index(drop=True)


def session_items(simulated: Sequence[str]) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    """First item row of each simulated stimulus (scenes 0, ``grey``, movie one, extra movies in
    :data:`analysis.study.STIMULUS_NAMES` order) and every movie's ``(frames, repeats)``."""
    scenes = study.get_stimulus(_BASE_STATIC)
    items = {_BASE_STATIC: 0, "grey": scenes.n_frames}
    row = scenes.n_frames + 1
    movies = {}
    for name in study.STIMULUS_NAMES:
        s = study.get_stimulus(name)
        if not s.is_movie:
            continue
        movies[name] = (s.n_frames, s.presentations)
        if name == _BASE_MOVIE or name in simulated:
            items[name] = row
            row += s.n_frames
    return items, movies


def item_responses(pop: Population, simulated: Sequence[str]) -> np.ndarray:
    """``(items, M)`` responses in :func:`session_items` order: the population's base rows
    (scenes, grey, movie one) then its extra movies' rows (grey row dropped)."""
    if pop.extra is None:
        return pop.responses
    return np.concatenate([pop.responses, pop.extra[1:]], axis=0)


def survey_session(seed: int, c: ContainerSpec, session_type: str, pop: Population, model: ResponseModel,
                   simulated: Sequence[str], *, dff: bool = True, only: Sequence[str] | None = None) -> SurveySession:
    """Simulate one session of container ``c`` (see the module docstring for the streams).

    ``simulated``: the natural stimuli with responses and tables; ``model``: the calibrated
    response parameters (:class:`ResponseModel`) of the container's area and depth;
    ``only``: simulate just these stimuli's epochs (see
    :func:`analysis.synthetic.neurons.simulate_survey_session`).
    """
    eid = c.experiment_ids[session_type]
    rng_s = _rng(seed, c.container_id, eid)
    pool = len(c.cell_ids)
    k = int(min(pool, (c.session_cells or {}).get(session_type, c.n_cells)))
    cells = np.sort(rng_s.choice(pool, size=k, replace=False))
    items, movies = session_items(simulated)
    tl, epochs = survey_timeline(session_type, rng_s, items, movies, list(simulated))
    gain = {s: model.gain(s, c.area, c.depth) for s in study.STIMULUS_NAMES}
    trial = {s: model.trial_sigma(s, c.area, c.depth, pop.gain_sigma) for s in study.STIMULUS_NAMES}
    slow = {s: model.slow_sigma(s, c.area, c.depth) for s in study.STIMULUS_NAMES}
    full = Population(**{**pop.__dict__, "responses": item_responses(pop, simulated)})

    def rngs(k: int) -> np.random.Generator:
        return _rng(seed, c.container_id, eid, OTHER_STREAM if k < 0 else EPOCH_STREAM + k)

    events, dff_arr = simulate_survey_session(rngs, full, cells, tl, epochs, gain, trial, dff=dff and only is None,
                                              only=only, slow_sigma=slow)
    return SurveySession(eid, session_type, cells, tl, epochs, events, dff_arr)


def stimulus_sessions(c: ContainerSpec, stimulus: str) -> tuple[str, ...]:
    """The session types of container ``c`` (simulated ones) that show ``stimulus``."""
    from .design import SESSION_TYPES

    return tuple(st for st in SESSION_TYPES if stimulus in study.stimuli_in_session(st, {stimulus}))


