"""Ground truth: plant one layer of one checkpoint in VISp of a small synthetic cache, recover it.

Builds its own ``small`` cache (VISp has two containers = two subjects) with
:func:`analysis.ground_truth.layer_plant` and runs the corrected protocol with
bootstrap intervals (:func:`analysis.ground_truth.recover`).
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis import allen, ground_truth, rdm
from analysis.synthetic import build_synthetic_cache

PLANTED = ("rat1", "p1_res_block3")
STIMULUS = "natural_scenes"


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted") / "synthetic"
    plant = ground_truth.layer_plant(*PLANTED, "VISp", weight=1.0, gain=3.0, stimuli=(STIMULUS,))
    build_synthetic_cache(root, preset="small", seed=0, progress=False, plant=plant)
    boc = allen.open_cache("synthetic", root)
    return ground_truth.recover(boc, STIMULUS, "VISp", 175, ["rat1", "ts1"], n_boot=50, n_splits=10)


def test_rdm_preserving_projection_keeps_the_layer_rdm_order():
    from analysis.compare import tau_a

    rng = np.random.default_rng(0)
    f = np.maximum(rng.normal(size=(30, 5)) @ rng.normal(size=(5, 2000)) + 0.3 * rng.normal(size=(30, 2000)), 0)
    g = ground_truth.rdm_preserving_projection(f, 512)
    assert tau_a(rdm.calc_rdms(f), rdm.calc_rdms(g))[0, 0] > 0.8


KNOWN_FAILURE = (
    "small preset: 2 subjects of ~40 matched cells; the two subjects' all-trial RDMs agree at "
    "tau-a ~0.01-0.06 (Nili lower bound) although the split-half SB ceiling is ~0.75, so cell "
    "sampling, not trial noise, dominates and neighbouring layers (p1_res_block3/4/5, out) tie at "
    "~0.10; see the report of issue 5"
)


@pytest.mark.xfail(reason=KNOWN_FAILURE, strict=False)
def test_planted_layer_is_recovered_as_best(recovery):
    check = ground_truth.check_recovery(recovery, *PLANTED)
    top = recovery.scores.sort_values("score", ascending=False).head(5)
    assert check["recovered_best"], top.to_string()


def test_planted_score_interval_is_well_formed(recovery):
    check = ground_truth.check_recovery(recovery, *PLANTED)
    assert recovery.n_subjects == 2
    assert check["ci_low"] <= check["score"] <= check["ci_high"] and check["ci_high"] > check["ci_low"]
    lo, hi = recovery.nili
    assert lo <= hi


@pytest.mark.xfail(reason=KNOWN_FAILURE, strict=False)
def test_planted_score_reaches_a_meaningful_noise_ceiling_within_its_interval(recovery):
    check = ground_truth.check_recovery(recovery, *PLANTED)
    # a ceiling near 0 would make "reaching" it vacuous: require a real one
    assert check["ceiling"] > 0.2, check
    assert check["reaches_ceiling"], check
