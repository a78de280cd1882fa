"""What the original study published: its noise ceilings, read from its figures.

Values read by eye from the four published figures of the original study (Brainhack School
2024, "Evaluating ANNs of the Visual System with Representational Similarity Analysis";
reference notes ``original-protocol.md``), about +-0.02: per stimulus, depth and area the
median noise ceiling (the dashed line) and the grey band (median +- 1 SD over 100 splits),
computed with the original's row-0 estimator (:func:`analysis.rdm.split_half_ceilings`).
They are facts about the real survey for calibrating and judging the synthetic one, not
data the analysis uses.
"""

from __future__ import annotations

#: ``(stimulus, depth) -> {area: (median, band low, band high)}``.
NOISE_CEILINGS: dict[tuple[str, int], dict[str, tuple[float, float, float]]] = {
    ("natural_movie_one", 175): {"VISl": (0.61, 0.54, 0.68), "VISp": (0.34, 0.24, 0.44),
                                 "VISpm": (0.68, 0.63, 0.72), "VISal": (0.52, 0.47, 0.57),
                                 "VISam": (0.71, 0.68, 0.74)},
    ("natural_movie_one", 275): {"VISl": (0.14, 0.03, 0.25), "VISp": (0.50, 0.44, 0.57),
                                 "VISpm": (0.47, 0.40, 0.53), "VISal": (0.47, 0.41, 0.54),
                                 "VISam": (0.40, 0.35, 0.46)},
    ("natural_scenes", 175): {"VISl": (0.57, 0.53, 0.61), "VISp": (0.51, 0.45, 0.57),
                              "VISpm": (0.53, 0.49, 0.57), "VISal": (0.41, 0.35, 0.48),
                              "VISam": (0.35, 0.25, 0.45)},
    ("natural_scenes", 275): {"VISl": (0.34, 0.29, 0.39), "VISp": (0.36, 0.31, 0.42),
                              "VISpm": (0.21, 0.16, 0.26), "VISal": (0.33, 0.27, 0.38),
                              "VISam": (0.23, 0.18, 0.29)},
}
#: Reading precision of the values above (by eye from the figures).
READING_PRECISION: float = 0.02
#: Calibration criteria of the synthetic survey: median within this of the published one ...
MEDIAN_TOLERANCE: float = 0.10
#: ... and the +-1 SD band's width within this factor of the published band's.
WIDTH_FACTOR: float = 1.5

#: The original study's data counts, as its run printed them: per (area, depth) the
#: experiment containers, then Natural Scenes sessions and concatenated neurons, then
#: Natural Movie One sessions and concatenated neurons (reference notes
#: ``original-protocol.md``). The synthetic survey design (``analysis/synthetic/surveys``)
#: must reproduce them (tests/test_survey.py).
COUNTS: dict[tuple[str, int], tuple[int, int, int, int, int]] = {
    ("VISp", 175): (8, 8, 1691, 24, 4673), ("VISp", 275): (8, 8, 1733, 24, 5447),
    ("VISl", 175): (6, 6, 775, 18, 2386), ("VISl", 275): (5, 5, 1069, 15, 3046),
    ("VISal", 175): (6, 6, 753, 18, 2294), ("VISal", 275): (6, 6, 1009, 18, 3259),
    ("VISpm", 175): (9, 9, 810, 27, 2520), ("VISpm", 275): (4, 4, 522, 12, 1735),
    ("VISam", 175): (5, 5, 385, 15, 1101), ("VISam", 275): (6, 6, 534, 18, 1749),
}
