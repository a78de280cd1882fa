"""Both protocols through the pipeline: corrected tables, bootstrap intervals, species tests, ground truth.

Runs on the ``small`` synthetic Brain Observatory (VISp has 2 containers, the other
areas 1) with two checkpoints (one per species) and few bootstrap draws. Network
features dominate the cost of a run (~40 s per checkpoint and clip set here), so the
runs share the session's cache; tests that need a cold cache start from a copy of its
network side only (stimuli, features, model RDMs), so every brain-side and inference
step (responses, brain RDMs, ceilings, bootstrap, tests) is recomputed.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analysis import compare, config, pipeline, protocols, report, stats, study, tables
from analysis.cli import main

pytestmark = [pytest.mark.usefixtures("real_checkpoints"), pytest.mark.slow]  # end to end: needs the ten checkpoints

CKPTS = ("rat1", "ts1")
N_BOOT = 200


def movie_cfg(**kw) -> pipeline.RunConfig:
    base = dict(stimulus="natural_movie_one", depth=175, checkpoint_names=CKPTS, n_brain_rdms=10, n_splits=10,
                n_boot=N_BOOT)
    return pipeline.RunConfig(**{**base, **kw})


def cold_brain_cache(target, monkeypatch):
    """Point RSA_CACHE at ``target`` holding a copy of the session cache's network side only."""
    source = config.work_cache_dir()
    for namespace in ("stimuli", "features", "model_rdms"):
        if (source / namespace).is_dir():
            shutil.copytree(source / namespace, target / namespace)
    monkeypatch.setenv("RSA_CACHE", str(target))
    assert not (target / "brain_rdms").exists() and not (target / "responses").exists()


@pytest.fixture(scope="module")
def runs(small_cache, tmp_path_factory):
    """Both protocols (session cache, fresh results folder); {protocol: paths, bytes, tables}."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("protocols")
    mp.setenv("RSA_RESULTS", str(base / "results"))
    out = {}
    for protocol in tuple(protocols.PROTOCOLS):
        cfg = movie_cfg(protocol=protocol)
        path = pipeline.run(cfg, progress=False)
        _, tests, prov = pipeline.output_paths(cfg)
        out[protocol] = dict(path=path, tests=tests, scores_bytes=path.read_bytes(), tests_bytes=tests.read_bytes(),
                             prov_bytes=prov.read_bytes(),
                             table=pd.read_csv(path, keep_default_na=False, na_values=[""]),
                             tests_table=pd.read_csv(tests, keep_default_na=False, na_values=[""]))
    mp.undo()
    out["results"] = base / "results"
    return out


def test_the_two_protocols_write_different_files(runs):
    orig, corr = runs["original"], runs["corrected"]
    assert orig["path"].name == "natural_movie_one_175.csv"
    assert corr["path"].name == "natural_movie_one_175_corrected.csv"
    assert orig["tests"].name == "natural_movie_one_175_tests.csv"
    assert corr["tests"].name == "natural_movie_one_175_corrected_tests.csv"
    assert len({orig["path"], corr["path"], orig["tests"], corr["tests"]}) == 4
    for r, protocol in ((orig, "original"), (corr, "corrected")):
        assert list(r["table"].columns) == list(tables.COLUMNS)
        assert (r["table"].protocol == protocol).all() and (r["tests_table"].protocol == protocol).all()
    # different protocols, different numbers (other cells, windows, clips and brain RDMs)
    key = ["area", "checkpoint", "layer"]
    m = orig["table"][orig["table"].row_type == "model"].merge(
        corr["table"][corr["table"].row_type == "model"], on=key, suffixes=("_o", "_c"))
    assert len(m) == len(study.AREAS) * len(CKPTS) * len(study.LAYERS)
    assert not np.allclose(m.score_o, m.score_c)


def test_corrected_table_has_ceilings_nili_bounds_and_intervals(runs):
    t = runs["corrected"]["table"]
    assert set(t.row_type) == {"noise_ceiling", "nili_lower", "nili_upper", "baseline", "model"}
    for area, g in t.groupby("area"):
        assert (g.row_type == "noise_ceiling").sum() == 1 and (g.row_type == "baseline").sum() == 1
        nili = g[g.row_type.isin(["nili_lower", "nili_upper"])]
        if g.n_experiments.iloc[0] > 1 and area == "VISp":  # 2 containers: Nili bounds across them
            lo = float(g.loc[g.row_type == "nili_lower", "score"].iloc[0])
            hi = float(g.loc[g.row_type == "nili_upper", "score"].iloc[0])
            assert -1 <= lo <= hi <= 1, (lo, hi)
        else:  # one container: no between-animal bound to report
            assert nili.empty
    ceiling = t[t.row_type == "noise_ceiling"]
    assert ceiling.score.between(0.05, 1).all(), ceiling.score.tolist()
    scored = t[t.row_type.isin(["model", "baseline"])]
    assert scored[["ci_low", "ci_high"]].notna().all().all()
    inside = (scored.ci_low <= scored.score) & (scored.score <= scored.ci_high)
    assert inside.mean() >= 0.9, inside.mean()
    assert (scored.ci_high > scored.ci_low).all()
    # score = mean over containers, score_sd = SD over them: 0 with one container, > 0 with two
    multi = scored[scored.area == "VISp"]
    assert (multi.score_sd > 0).all() and (scored.score_sd >= 0).all()
    # the ceiling band of the figures (Nili bounds) bounds this very score: the best model of
    # an area with two containers lies below the upper bound
    t_visp = t[t.area == "VISp"]
    if "nili_upper" in set(t_visp.row_type):
        assert multi.score.max() <= float(t_visp.loc[t_visp.row_type == "nili_upper", "score"].iloc[0]) + 1e-12
    assert ceiling[["ci_low", "ci_high"]].isna().all().all()


def test_original_table_keeps_its_rows_and_gains_intervals(runs):
    t = runs["original"]["table"]
    assert set(t.row_type) == {"noise_ceiling", "baseline", "model"}
    scored = t[t.row_type.isin(["model", "baseline"])]
    inside = (scored.ci_low <= scored.score) & (scored.score <= scored.ci_high)
    assert inside.mean() >= 0.9, inside.mean()
    assert (scored.score_sd > 0).all()


def test_tests_table_columns_and_p_values(runs, monkeypatch):
    for protocol in tuple(protocols.PROTOCOLS):
        tests = runs[protocol]["tests_table"]
        assert list(tests.columns) == list(tables.TEST_COLUMNS)
        assert len(tests) == len(study.AREAS) * (len(study.LAYERS) + 1)
        assert set(tests.test) == {"layer", "best_layer"}
        assert tests.p.between(0, 1).all() and (tests.p > 0).all()
        assert (tests.p_fdr >= tests.p - 1e-12).all() and (tests.p_fdr <= 1).all()
        assert (tests.significant == (tests.p_fdr <= 0.05)).all()
        assert (tests.ci_low <= tests.ci_high).all()
        np.testing.assert_allclose(tests.difference, tests.mean_a - tests.mean_b, atol=1e-9)
        # the book reads it, with the intervals, into the robustness comparison
        monkeypatch.setenv("RSA_RESULTS", str(runs["results"]))
        loaded = report.load_tests("synthetic", "natural_movie_one", 175, protocol)
        assert loaded is not None and loaded.significant.dtype == bool and len(loaded) == len(tests)
    frame, _ = report.robustness_frame("synthetic", [("natural_movie_one", 175)])
    assert set(frame.protocol) == {"original", "corrected"} and frame.tested.all()


def test_same_seed_gives_identical_tables_from_a_cold_cache(runs, tmp_path, monkeypatch):
    cold_brain_cache(tmp_path / "cache", monkeypatch)
    monkeypatch.setenv("RSA_RESULTS", str(tmp_path / "results"))
    cfg = movie_cfg(protocol="corrected")
    path = pipeline.run(cfg, progress=False)
    _, tests, prov = pipeline.output_paths(cfg)
    assert path.read_bytes() == runs["corrected"]["scores_bytes"]
    assert tests.read_bytes() == runs["corrected"]["tests_bytes"]
    assert prov.read_bytes() == runs["corrected"]["prov_bytes"]


def test_other_seed_changes_the_intervals(runs):
    res = pipeline.compute_tables(movie_cfg(protocol="corrected", seed=7, areas=("VISp",)), progress=False)
    first = runs["corrected"]["table"]
    a = res.table[res.table.row_type == "model"].reset_index(drop=True)
    b = first[(first.row_type == "model") & (first.area == "VISp")].reset_index(drop=True)
    # the corrected point estimate draws nothing (all trials): only the intervals move
    np.testing.assert_allclose(a.score.to_numpy(), b.score.to_numpy(), rtol=0, atol=1e-11)  # CSV: 12 digits
    assert not np.allclose(a.ci_low.to_numpy(), b.ci_low.to_numpy())


def test_no_inference_writes_no_tests_and_removes_a_stale_one(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("RSA_RESULTS", str(tmp_path / "results"))
    cfg = movie_cfg(protocol="corrected", n_boot=0, areas=("VISp",))
    _, tests, _ = pipeline.output_paths(cfg)
    tests.parent.mkdir(parents=True)
    tests.write_text("stale\n")
    path = pipeline.run(cfg, progress=False)
    t = pd.read_csv(path)
    assert t[["ci_low", "ci_high"]].isna().all().all()
    assert not tests.exists()


def test_local_workers_give_identical_corrected_tables(runs, tmp_path, monkeypatch):
    cfg = movie_cfg(protocol="corrected", areas=("VISp", "VISam"), checkpoint_names=("rat1",), n_boot=50)
    out = {}
    for label, jobs in (("serial", 1), ("jobs", 2)):
        cold_brain_cache(tmp_path / label, monkeypatch)
        res = pipeline.compute_tables(cfg, progress=False, jobs=jobs)
        res.provenance.pop("git_commit")
        out[label] = (tables.to_table(res.table.to_dict("records")).to_csv(index=False, float_format="%.12g"),
                      res.provenance)
    assert out["jobs"] == out["serial"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--stimulus", "natural_scenes", "--depth", "175", "--protocol", "fixed"],
         "unknown protocol 'fixed'; valid protocols: original, corrected"),
        (["results", "--protocols", "original", "faithful"],
         "unknown protocol 'faithful'; valid protocols: original, corrected"),
        (["run", "--stimulus", "natural_scenes", "--depth", "175", "--n-boot", "-1"], "expected an integer >= 0, got -1"),
    ],
)
def test_bad_protocol_or_n_boot_gets_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


def test_cli_defaults_are_the_pipeline_defaults():
    from analysis import cli

    assert cli.PROTOCOLS == tuple(protocols.PROTOCOLS) and cli.N_BOOT == pipeline.N_BOOT
    args = cli.build_parser().parse_args(["paper"])
    assert args.protocols == list(protocols.DEFAULT_PROTOCOLS) and args.n_boot is None  # the pipeline's default
    args = cli.build_parser().parse_args(["results", "--protocol", "corrected"])  # abbreviation of --protocols
    assert args.protocols == ["corrected"]


def test_inference_is_on_by_default_except_above_200_conditions():
    """1000 draws for the scenes and the binned movie; off for the per-frame movie unless asked."""
    assert pipeline.RunConfig("natural_scenes", 175).n_boot == pipeline.N_BOOT == 1000
    assert pipeline.RunConfig("natural_movie_one", 175).n_boot == 1000  # 60 conditions
    assert pipeline.RunConfig("natural_movie_one", 175, movie_bin=5).n_boot == 1000  # 180 conditions
    assert pipeline.RunConfig("natural_movie_one", 175, movie_bin=1).n_boot == 0  # 900 conditions
    assert pipeline.RunConfig("natural_movie_one", 175, movie_bin=1, n_boot=20).n_boot == 20
    assert pipeline.RunConfig("natural_scenes", 175, n_boot=0).n_boot == 0


def test_run_config_validates_protocol_and_n_boot():
    with pytest.raises(ValueError, match="unknown protocol 'fixed'; valid protocols: original, corrected"):
        movie_cfg(protocol="fixed")
    with pytest.raises(ValueError, match="n_boot must be an integer >= 0"):
        movie_cfg(n_boot=-5)


# ---------------------------------------------------------------- the pooled bootstrap


def test_pooled_rdm_equals_the_rdm_of_the_concatenated_cells():
    rng = np.random.default_rng(0)
    pats = [rng.gamma(2.0, size=(12, k)) + 5 for k in (4, 7, 3)]
    ps = stats.pattern_sums(pats)
    np.testing.assert_allclose(stats.pooled_rdm(ps), compare.correlation_rdms(np.concatenate(pats, 1)), atol=1e-12)
    drawn = np.concatenate([pats[0], pats[2], pats[2]], 1)  # subject 0 once, subject 2 twice
    np.testing.assert_allclose(stats.pooled_rdm(ps, [1, 0, 2]), compare.correlation_rdms(drawn), atol=1e-12)


def test_pooled_bootstrap_with_one_subject_is_the_stimulus_bootstrap():
    rng = np.random.default_rng(1)
    pat = rng.random((15, 30))
    models = rng.random((6, 105))
    brain = compare.correlation_rdms(pat)
    point = compare.tau_a(models, brain)[:, 0]
    pooled = stats.bootstrap_pooled_scores(models, point, lambda h: [pat], 1, np.random.default_rng(3), n_boot=40)
    plain = stats.bootstrap_scores(models, brain, np.random.default_rng(3), n_boot=40)
    np.testing.assert_array_equal(pooled.draws, plain.draws)


def test_pooled_bootstrap_draws_are_the_tau_of_the_resampled_pool():
    """Each draw: the resampled models against the RDM of the drawn subjects' cells (reference loop)."""
    rng = np.random.default_rng(2)
    halves = [[rng.random((10, k)) for k in (5, 8, 6)] for _ in range(3)]  # 3 versions x 3 subjects
    models = rng.random((4, 45))
    got = stats.bootstrap_pooled_scores(models, np.zeros(4), lambda h: halves[h], 3, np.random.default_rng(9),
                                        n_boot=30, n_sets=3, chunk=2)
    ref_rng = np.random.default_rng(9)
    for b in range(30):
        conds = ref_rng.integers(0, 10, 10)
        w = ref_rng.multinomial(3, np.ones(3) / 3)
        h = ref_rng.integers(0, 3)
        cells = np.concatenate([x for x, k in zip(halves[h], w) for _ in range(k)], axis=1)
        cols = stats.resample_columns(conds, 10)
        want = compare.tau_a(models[:, cols], compare.correlation_rdms(cells)[:, cols])[:, 0]
        np.testing.assert_allclose(got.draws[b], want, atol=1e-12)


# ---------------------------------------------------------------- ground truth for the book


def test_ground_truth_table_for_the_book(small_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("RSA_RESULTS", str(tmp_path / "results"))
    from analysis import ground_truth

    path = ground_truth.write_ground_truth("synthetic", n_boot=200, progress=False)
    assert path == tables.ground_truth_path("synthetic")
    t = report.load_ground_truth("synthetic")
    assert t is not None and len(t) == 1
    r = t.iloc[0]
    assert (r.area, r.planted_checkpoint, r.planted_layer) == ("VISp", "rat1", "out")
    assert bool(r.recovered) and r.best_checkpoint == "rat1" and r.best_layer == "out"
    assert r.ci_low <= r.score <= r.ci_high and r.ceiling_low <= r.ceiling_high
    assert r.ci_high >= r.ceiling_low and r.ceiling_low > 0.2
    text = report.ground_truth_markdown("synthetic")
    assert "In 1 of 1 planted areas the pipeline recovered the planted layer" in text
    # up to date: not recomputed
    stamp = path.stat().st_mtime_ns
    ground_truth.write_ground_truth("synthetic", n_boot=200, progress=False)
    assert path.stat().st_mtime_ns == stamp
