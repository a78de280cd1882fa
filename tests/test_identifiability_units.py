"""Fast properties of the identifiability study's pure helpers."""

from __future__ import annotations

import numpy as np

from analysis import identifiability as ident
from analysis.synthetic.neurons import geometry_drive


def test_compact_geometry_keeps_the_items_geometry_in_items_plus_one_dimensions():
    rng = np.random.default_rng(1)
    f = np.concatenate([ident._unit_rows(rng.standard_normal((30, 200)) + rng.standard_normal(200))
                        for _ in range(3)], axis=1)
    q = ident.compact_geometry(f)
    assert q.shape == (30, 31)
    np.testing.assert_allclose(q @ q.T, f @ f.T, atol=1e-12)
    np.testing.assert_allclose(q.mean(axis=1), 0.0, atol=1e-15)
    # the plant's drives: jointly normal with the items' correlations as covariance, for both
    m = 20_000
    for x in (f, q):
        d = geometry_drive(x, rng.standard_normal((x.shape[1], m)))
        np.testing.assert_allclose(np.corrcoef(d)[:5, :5], np.corrcoef(f)[:5, :5], atol=0.04)
