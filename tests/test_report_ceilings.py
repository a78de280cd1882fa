"""The robustness chapter's ceiling tables: estimators side by side, synthetic vs published."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import published, rdm, tables
from analysis.report.calibration import published_comparison
from analysis.report.ceilings import estimator_frame


def _ceilings(values: dict) -> pd.DataFrame:
    rows = []
    for (stimulus, depth, area), per in values.items():
        for est, (med, sd) in per.items():
            rows.append(dict(source="synthetic", stimulus=stimulus, depth=depth, area=area, protocol="original",
                             estimator=est, median=med, sd=sd, n_splits=100, used=est == "row0"))
    return pd.DataFrame(rows, columns=list(tables.CEILING_COLUMNS))


def test_synthetic_vs_published_criteria():
    pub = published.NOISE_CEILINGS[("natural_scenes", 175)]
    med_p, lo_p, hi_p = pub["VISp"]  # 0.51, band 0.45-0.57: width 0.12
    c = _ceilings({
        ("natural_scenes", 175, "VISp"): {"row0": (med_p + 0.09, 0.06 * 1.4), "split_half": (0.7, 0.01)},
        ("natural_scenes", 175, "VISl"): {"row0": (pub["VISl"][0] - 0.2, 0.01), "split_half": (0.5, 0.01)},
        ("natural_scenes", 999, "VISp"): {"row0": (0.5, 0.05)},  # not published: left out
    })
    f = published_comparison(c, "row0").set_index("area")
    assert list(f.index) == ["VISl", "VISp"]
    assert bool(f.loc["VISp", "median_ok"]) and bool(f.loc["VISp", "width_ok"])  # 0.09 off; width x1.4
    np.testing.assert_allclose(f.loc["VISp", "width_ratio"], 1.4)
    assert not f.loc["VISl", "median_ok"] and not f.loc["VISl", "width_ok"]  # 0.2 off; width x~0.25
    assert f.loc["VISp", "full_rdm"] == 0.7


def test_estimator_frame_says_which_reach_the_band():
    c = _ceilings({("natural_movie_one", 275, "VISl"): {"row0": (0.2, 0.1), "split_half": (0.6, 0.02),
                                                        "spearman_brown": (0.75, 0.02)}})
    rob = pd.DataFrame([dict(stimulus="natural_movie_one", depth=275, area="VISl", protocol="original",
                             upper_rat=0.4, upper_treeshrew=0.3, score_rat=0.3, score_treeshrew=0.25)])
    f = estimator_frame(c, rob).iloc[0]
    assert f["row0_reaches"] and not f["split_half_reaches"] and not f["spearman_brown_reaches"]
    np.testing.assert_allclose([f[f"{e}_share"] for e in rdm.CEILING_ESTIMATORS], [0.3 / 0.2, 0.3 / 0.6, 0.3 / 0.75])


def test_conclusion_with_one_seed_per_species(isolated_env):
    """One checkpoint per species (e.g. --checkpoints rat1 ts1): the seed SD is undefined and
    the conclusion still renders (no species is "clearly" ahead of an undefined spread)."""
    import json

    from analysis.report.summary_text import conclusion_text
    from fabricate_results import fabricate_provenance, fabricate_table

    table = fabricate_table("natural_scenes", 175, seeds=(1,))
    path = tables.results_path("synthetic", "natural_scenes", 175)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    path.with_suffix(".json").write_text(json.dumps(fabricate_provenance(table)))
    text = conclusion_text("synthetic", [("natural_scenes", 175)])
    assert "Natural Scenes at 175 µm" in text
