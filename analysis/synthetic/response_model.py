"""The calibrated response model of a survey preset: two numbers per stimulus, area and depth.

``gain``: the response amplitude of the stimulus's items relative to the population
model's own (more events per response: more reliable responses); ``trial_sigma``: the SD
of each neuron's log-normal gain per trial unit (heavier tails let a few trials dominate
a neuron's mean); ``slow_sigma``: the SD of each neuron's slow drift of responsiveness per
30-s block (:data:`analysis.synthetic.neurons.SLOW_SIGMA`; trials in different blocks then
differ by more than their noise, which widens the row-0 ceiling's band at a given median). Both are fitted (:mod:`analysis.synthetic.calibrate`, ``python -m analysis
calibrate``) so that the original protocol's noise ceiling of the synthetic survey
matches the published one; the fit is stored in ``surveys/<cre line>.model.json`` beside
the survey design, with its targets, settings and the values it reached.

A stimulus, area or depth without a fitted value takes, in turn: the same stimulus and
area at the nearest fitted depth; for a movie without a fit of its own, Natural Movie
One's; otherwise the uncalibrated defaults (gain 1, the population's depth-dependent
trial gain SD, :func:`analysis.synthetic.gain_sigma`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import study
from .design import _BASE_MOVIE


@dataclass(frozen=True)
class ResponseModel:
    """``params[(stimulus, area, depth)] = (gain, trial_sigma, slow_sigma)``; ``meta``: the fit's record."""

    params: dict[tuple[str, str, int], tuple[float, float, float]] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def _lookup(self, stimulus: str, area: str, depth: int) -> tuple[float, float | None, float | None]:
        names = [stimulus]
        if study.get_stimulus(stimulus).is_movie and stimulus != _BASE_MOVIE:
            names.append(_BASE_MOVIE)
        for name in names:
            depths = [d for (s, a, d) in self.params if s == name and a == area]
            if depths:
                nearest = min(depths, key=lambda d: (abs(d - int(depth)), d))
                return self.params[(name, area, nearest)]
        return 1.0, None, None

    def gain(self, stimulus: str, area: str, depth: int) -> float:
        return float(self._lookup(stimulus, area, depth)[0])

    def trial_sigma(self, stimulus: str, area: str, depth: int, default: float) -> float:
        value = self._lookup(stimulus, area, depth)[1]
        return float(default if value is None else value)

    def slow_sigma(self, stimulus: str, area: str, depth: int) -> float:
        from .neurons import SLOW_SIGMA

        value = self._lookup(stimulus, area, depth)[2]
        return float(SLOW_SIGMA if value is None else value)

    def replace(self, stimulus: str, area: str, depth: int, gain: float, trial_sigma: float,
                slow_sigma: float | None = None) -> "ResponseModel":
        """A copy with one cell's parameters set (``slow_sigma`` default: :data:`~analysis.synthetic.neurons.SLOW_SIGMA`)."""
        from .neurons import SLOW_SIGMA

        params = dict(self.params)
        params[(stimulus, area, int(depth))] = (float(gain), float(trial_sigma),
                                                float(SLOW_SIGMA if slow_sigma is None else slow_sigma))
        return ResponseModel(params, dict(self.meta))

    def as_rows(self) -> list[dict]:
        return [{"stimulus": s, "area": a, "depth": d, "gain": g, "trial_sigma": ts, "slow_sigma": ss}
                for (s, a, d), (g, ts, ss) in sorted(self.params.items())]


def model_file(cre_line: str) -> Path:
    from .survey import survey_file

    return survey_file(cre_line).with_suffix(".model.json")


def load_response_model(cre_line: str | None) -> ResponseModel:
    """The fitted model of ``cre_line`` (uncalibrated defaults when None or never fitted)."""
    if cre_line is None:
        return ResponseModel()
    path = model_file(cre_line)
    if not path.is_file():
        return ResponseModel(meta={"fitted": False, "path": str(path.name)})
    doc = json.loads(path.read_text())
    from .neurons import SLOW_SIGMA

    params = {(r["stimulus"], r["area"], int(r["depth"])): (float(r["gain"]), float(r["trial_sigma"]),
                                                            float(r.get("slow_sigma", SLOW_SIGMA)))
              for r in doc["params"]}
    return ResponseModel(params, {k: v for k, v in doc.items() if k != "params"})
