"""The real survey's design: containers, cells per session, session length and epoch order.

Two facts about the Allen Brain Observatory Visual Coding 2P survey make a synthetic
data set behave like the real one at the real size:

* **who was recorded**: for each area and depth, the experiment containers of a Cre
  line and the number of cells in each of their three sessions
  (``surveys/<cre line>.json``, read from the original study's printed counts; only
  Cux2-CreERT2 is known here, :func:`load_survey`);
* **what was on the screen when**: each session type's epochs in their real order
  (:data:`EPOCH_PLANS`), a session lasting :data:`SESSION_FRAMES` two-photon frames
  (about an hour). The natural stimuli keep their exact designs (118 scenes x 50 in
  three epochs; movie one 10 repeats; movie two 10 repeats; movie three 5 repeats in two
  epochs); gratings and sparse noise fill the rest of the session as epochs the
  pipeline skips (no stimulus table), each epoch preceded by a grey gap.

Frames of the epoch table below are those of the Brain Observatory's own examples
(session B: static gratings 747-15196, natural scenes 16100-30550, spontaneous
30700-39580, ...; session C: locally sparse noise 742-22417, spontaneous 22567-31449,
natural movie one 31450-40479, ...), reproduced by these durations to within about two thousand frames.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .. import study

#: Two-photon frames of one session (about 63 minutes at 30.08 Hz).
SESSION_FRAMES: int = 113_900
#: Grey screen before the first epoch and between epochs (s).
LEAD_S: float = 24.7
GAP_S: float = 30.0
#: The spontaneous-activity epoch (grey screen, s).
SPONTANEOUS_S: float = 295.0
#: Epochs of each session type in their real order. Natural stimuli: ``(name, part)``
#: with ``part`` the epoch's share of the stimulus's presentations (scenes in three equal
#: parts; movie three's repeats 3 + 2); other stimuli and ``spontaneous``: ``(name, None)``.
EPOCH_PLANS: dict[str, tuple[tuple[str, tuple[int, int] | None], ...]] = {
    "three_session_A": (("drifting_gratings", None), ("natural_movie_three", (0, 3)), ("natural_movie_one", None),
                        ("drifting_gratings", None), ("spontaneous", None), ("natural_movie_three", (3, 5)),
                        ("drifting_gratings", None)),
    "three_session_B": (("static_gratings", None), ("natural_scenes", (0, 3)), ("spontaneous", None),
                        ("natural_scenes", (1, 3)), ("static_gratings", None), ("natural_movie_one", None),
                        ("natural_scenes", (2, 3)), ("static_gratings", None)),
    "three_session_C": (("locally_sparse_noise", None), ("spontaneous", None), ("natural_movie_one", None),
                        ("locally_sparse_noise", None), ("natural_movie_two", None), ("spontaneous", None),
                        ("locally_sparse_noise", None)),
}
#: Stimuli of the survey the generator does not simulate as such (neurons fire at their
#: spontaneous rate plus a mean evoked rate; no stimulus table is written).
OTHER_STIMULI: tuple[str, ...] = ("drifting_gratings", "static_gratings", "locally_sparse_noise")

_HERE = Path(__file__).parent / "surveys"


@dataclass(frozen=True)
class Survey:
    """Containers of one Cre line: ``cells[(area, depth)]`` = one ``{session_type: cells}`` per container."""

    cre_line: str
    cells: dict[tuple[str, int], tuple[dict[str, int], ...]]
    source: str

    def containers(self) -> dict[tuple[str, int], int]:
        """Containers per (area, depth)."""
        return {k: len(v) for k, v in self.cells.items()}


def survey_file(cre_line: str) -> Path:
    """``surveys/<cre line, lower case, '-' as '_'>.json``."""
    return _HERE / f"{cre_line.lower().replace('-', '_')}.json"


@lru_cache(maxsize=None)
def load_survey(cre_line: str = study.CRE_LINE) -> Survey:
    """The survey design of ``cre_line`` (a ValueError naming the known ones when absent)."""
    path = survey_file(cre_line)
    if not path.is_file():
        known = sorted(p.stem for p in _HERE.glob("*.json"))
        raise ValueError(f"no survey design for cre line {cre_line!r} ({path} is missing); known: {known}")
    doc = json.loads(path.read_text())
    names = {"A": "three_session_A", "B": "three_session_B", "C": "three_session_C"}
    cells = {(r["area"], int(r["depth"])): tuple({names[k]: int(v) for k, v in c.items()} for c in r["containers"])
             for r in doc["cells"]}
    return Survey(cre_line=doc["cre_line"], cells=cells, source=str(path.name))
