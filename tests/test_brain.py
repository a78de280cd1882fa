"""analysis.brain.AreaData: the per-container split is made once and equals a fresh split."""

from __future__ import annotations

import numpy as np

from analysis import brain, responses


def test_subject_tensors_are_kept_and_equal_each_containers_cells():
    rng = np.random.default_rng(0)
    r = rng.gamma(1.0, 1.0, (10, 6, 13))
    r[2, 1, 4] = np.nan  # a missing slot stays missing
    groups = rng.integers(0, 3, 13)
    area = brain.AreaData("VISp", [], r, subjects=(11, 22, 33), groups=groups)
    first = area.subject_tensors()
    assert area.subject_tensors() is first  # made once
    for s, t in enumerate(first):
        np.testing.assert_array_equal(t, r[:, :, groups == s])
    halves = [np.sort(rng.permutation(10)[:5]) for _ in range(4)]
    for h in halves:
        want = []
        for s in range(3):
            m = responses.trial_mean(r[:, :, groups == s][h])
            want.append(m[:, responses.complete_cells(m)])
        for got, w in zip(area.subject_patterns(h), want):
            np.testing.assert_array_equal(got, w)
    assert area.slim().responses is None and area.slim()._split is None
