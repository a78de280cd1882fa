"""Figure data (known answers) and the two renderings of analysis.report.figures."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from analysis import config, study
from analysis.report import figures
from fabricate_results import fabricate_table, fabricate_tests


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return fabricate_table("natural_scenes", 175)


def test_series_medians_and_sds_over_seeds(table):
    fd = figures.figure_data(table)
    models = table[table["row_type"] == "model"]
    for area, species, layer in [("VISp", "rat", "s1"), ("VISam", "treeshrew", "p2_res_block4"),
                                 ("VISl", "rat", "p1_res_block6"), ("VISal", "treeshrew", "out")]:
        scores = models[(models["area"] == area) & (models["species"] == species)
                        & (models["layer"] == layer)]["score"].to_numpy()
        row = fd[(fd["area"] == area) & (fd["layer"] == layer) & (fd["species"] == species)]
        assert len(row) == 1
        assert row["value"].iloc[0] == pytest.approx(np.median(scores))
        assert row["sd"].iloc[0] == pytest.approx(np.std(scores, ddof=1))
        assert row["n_seeds"].iloc[0] == 5


def test_series_ticks_offsets_and_colours(table):
    fd = figures.figure_data(table)
    assert set(fd["series"]) == set(figures.SERIES) | {figures.NOISE_CEILING}
    s = fd.set_index(["area", "series", "layer"])
    assert s.loc[("VISp", "Rat P1", "p1_res_block2"), "tick"] == "res_block2"
    assert s.loc[("VISp", "Treeshrew P2", "p2_res_block2"), "tick"] == "res_block2"
    assert s.loc[("VISp", "Rat s1/out", "out"), "x"] == pytest.approx(8 + figures.OFFSETS["Rat s1/out"])
    assert s.loc[("VISp", "Baseline", "pixel"), "x"] == 0
    assert figures.COLOURS == {
        "Baseline": "black", "Rat s1/out": "darkblue", "Rat P1": "blue", "Rat P2": "deepskyblue",
        "Treeshrew s1/out": "darkred", "Treeshrew P1": "red", "Treeshrew P2": "orange",
    }
    assert (fd["colour"] == fd["series"].map(figures.COLOURS).fillna("grey")).all()
    # each series has one row per layer it owns, per area
    counts = fd[fd["area"] == "VISl"].groupby("series").size().to_dict()
    assert counts == {"Baseline": 1, "Rat s1/out": 2, "Rat P1": 6, "Rat P2": 6,
                      "Treeshrew s1/out": 2, "Treeshrew P1": 6, "Treeshrew P2": 6, "Noise ceiling": 1}
    assert figures.TICKS == ("pixel", "s1", *[f"res_block{i}" for i in range(1, 7)], "out")


def test_noise_ceiling_and_baseline_rows(table):
    fd = figures.figure_data(table)
    for area in study.AREAS:
        nc = table[(table["row_type"] == "noise_ceiling") & (table["area"] == area)]
        row = fd[(fd["area"] == area) & (fd["series"] == figures.NOISE_CEILING)]
        assert row["value"].iloc[0] == pytest.approx(nc["score"].iloc[0])
        assert row["sd"].iloc[0] == pytest.approx(nc["score_sd"].iloc[0])
        base = fd[(fd["area"] == area) & (fd["series"] == "Baseline")]
        assert np.isnan(base["sd"].iloc[0])  # one value: no error bar, not a zero-width one


def test_corrected_divides_by_median_noise_ceiling(table):
    raw = figures.figure_data(table)
    cor = figures.figure_data(table, corrected=True)
    assert cor["corrected"].all() and not raw["corrected"].any()
    nc = figures.noise_ceilings(table).set_index("area")["median"]
    denom = raw["area"].map(nc)
    np.testing.assert_allclose(cor["value"], raw["value"] / denom)
    np.testing.assert_allclose(cor["sd"].dropna(), (raw["sd"] / denom).dropna())
    ceil = cor[cor["series"] == figures.NOISE_CEILING]["value"]
    np.testing.assert_allclose(ceil, 1.0)


def test_summary_picks_best_layer_per_species(table):
    s = figures.summary_data([table])
    assert len(s) == len(study.AREAS) * len(study.SPECIES)
    models = table[table["row_type"] == "model"]
    med = models.groupby(["area", "species", "layer"])["score"].median()
    for r in s.itertuples():
        per_layer = med.loc[(r.area, r.species)]
        assert r.best_layer == per_layer.idxmax()
        assert r.value == pytest.approx(per_layer.max())
        assert r.corrected_value == pytest.approx(r.value / r.noise_ceiling)
    comp = figures.species_comparison(s)
    assert set(comp["higher"]) <= {"rat", "treeshrew", "tie"}
    assert list(comp["area"]) == list(study.AREAS)


def test_figure_data_refuses_mixed_or_incomplete_tables(table):
    with pytest.raises(ValueError, match="lacks columns"):
        figures.figure_data(table.drop(columns=["score_sd"]))
    with pytest.raises(ValueError, match="unknown layer"):
        bad = table.copy()
        bad.loc[bad["row_type"] == "model", "layer"] = "conv9"
        figures.figure_data(bad)


def test_static_and_interactive_renderings(table):
    fd = figures.figure_data(table)
    sub = figures.subtitle(study.CRE_LINE, 175, "natural_scenes")
    static = figures.plot_static(fd, figures.TITLE, sub)
    titles = [ax.get_title() for ax in static.axes if ax.get_visible()]
    assert titles == list(study.AREAS)
    assert not static.axes[5].get_visible()  # the sixth cell is empty
    assert static.axes[3].get_xlabel() == "Layer" and static.axes[0].get_ylabel() == "RDM similarity"
    assert figures.TITLE in static._suptitle.get_text() and sub in static._suptitle.get_text()
    inter = figures.plot_interactive(fd, figures.TITLE, sub)
    names = {t.name for t in inter.data if t.showlegend}
    assert set(figures.SERIES) <= names
    hover = next(t for t in inter.data if t.name == "Rat P1").hovertemplate
    for word in ("layer", "value", "SD", "seeds"):
        assert word in hover
    bundle = figures.figure_bundle(static, inter)
    assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    div = bundle["text/html"]
    assert "Plotly.newPlot" in div
    assert not re.search(r"<script[^>]+src=", div), "the div must not load plotly.js itself"
    assert "https://" not in div and "mathjax" not in div.lower()


def test_summary_renderings(table):
    s = figures.summary_data([table, fabricate_table("natural_movie_one", 275)])
    figures.plot_summary_static(s, "t", "s")
    fig = figures.plot_summary_interactive(s, "t", "s", corrected=True)
    assert {t.name for t in fig.data} >= {"Rat (best layer)", "Treeshrew (best layer)"}


# ---------------------------------------------------------------------------------------
# intervals, significance marks, the Nili band (inference tables)


@pytest.fixture(scope="module")
def table_ci() -> pd.DataFrame:
    return fabricate_table("natural_scenes", 175, with_ci=True)


def test_figure_data_carries_median_intervals(table_ci):
    fd = figures.figure_data(table_ci)
    models = table_ci[table_ci["row_type"] == "model"]
    for area, species, layer in [("VISp", "rat", "s1"), ("VISam", "treeshrew", "p2_res_block4")]:
        m = models[(models["area"] == area) & (models["species"] == species) & (models["layer"] == layer)]
        row = fd[(fd["area"] == area) & (fd["layer"] == layer) & (fd["species"] == species)].iloc[0]
        assert row["ci_low"] == pytest.approx(np.median(m["ci_low"]))
        assert row["ci_high"] == pytest.approx(np.median(m["ci_high"]))
        assert row["sd"] == pytest.approx(np.std(m["score"], ddof=1))  # the error bar is still the seed SD
    base = table_ci[(table_ci["row_type"] == "baseline") & (table_ci["area"] == "VISl")].iloc[0]
    brow = fd[(fd["area"] == "VISl") & (fd["series"] == "Baseline")].iloc[0]
    assert (brow["ci_low"], brow["ci_high"]) == pytest.approx((base["ci_low"], base["ci_high"]))
    cor = figures.figure_data(table_ci, corrected=True)
    denom = fd["area"].map(figures.noise_ceilings(table_ci).set_index("area")["median"])
    np.testing.assert_allclose(cor["ci_high"].dropna(), (fd["ci_high"] / denom).dropna())


def test_old_tables_without_intervals_draw_none(table):
    fd = figures.figure_data(table)
    assert fd["ci_low"].isna().all() and fd["ci_high"].isna().all()
    assert not fd["series"].isin([figures.SIGNIFICANT, figures.BEST_SIGNIFICANT]).any()
    nc = fd[fd["series"] == figures.NOISE_CEILING]
    np.testing.assert_allclose(nc["band_low"], nc["value"] - nc["sd"])
    assert set(nc["band"]) == {figures.BAND_SD}
    fig = figures.plot_static(fd)
    assert not any(t.get_text() == "*" for ax in fig.axes for t in ax.texts)


def test_corrected_protocol_band_is_the_nili_bounds():
    t = fabricate_table("natural_scenes", 175, protocol="corrected", with_ci=True)
    nc = figures.noise_ceilings(t).set_index("area")
    raw = t[t["row_type"] == "noise_ceiling"].set_index("area")["score"]
    np.testing.assert_allclose(nc["low"], raw.loc[nc.index] - 0.05)
    np.testing.assert_allclose(nc["high"], raw.loc[nc.index] + 0.03)
    assert set(nc["band"]) == {figures.BAND_NILI}
    fd = figures.figure_data(t)
    assert set(fd.loc[fd["series"] == figures.NOISE_CEILING, "band"]) == {figures.BAND_NILI}
    inter = figures.plot_interactive(fd)
    assert any(t.name == f"Noise ceiling {figures.BAND_NILI}" for t in inter.data)


def test_significance_marks_where_significant(table_ci):
    tests = fabricate_tests(table_ci, significant_areas=("VISam",),
                            significant_layers={"VISp": ["p1_res_block2", "out"], "VISl": ["s1"]})
    assert int(tests["significant"].sum()) == 4
    fd = figures.figure_data(table_ci, tests=tests)
    marks = fd[fd["series"] == figures.SIGNIFICANT]
    assert sorted(zip(marks["area"], marks["layer"])) == [("VISl", "s1"), ("VISp", "out"), ("VISp", "p1_res_block2")]
    m = marks.set_index(["area", "layer"])
    # between the rat and treeshrew markers of the pathway, above both (SD and interval)
    assert m.loc[("VISp", "p1_res_block2"), "x"] == pytest.approx(3 + (-0.225 - 0.075) / 2)
    assert m.loc[("VISp", "out"), "x"] == pytest.approx(8.0)
    for (area, layer), r in m.iterrows():
        d = fd[(fd["area"] == area) & (fd["layer"] == layer) & fd["species"].isin(study.SPECIES)
               & (fd["series"] != figures.SIGNIFICANT)]
        assert r["value"] > np.nanmax(np.r_[d["value"] + d["sd"], d["ci_high"]])
        t = tests[(tests["area"] == area) & (tests["layer"] == layer)].iloc[0]
        assert r["species"] == ("rat" if t["difference"] > 0 else "treeshrew")
        assert r["colour"] == figures.SPECIES_COLOURS[r["species"]]
    best = fd[fd["series"] == figures.BEST_SIGNIFICANT]
    assert list(best["area"]) == ["VISam"]
    static = figures.plot_static(fd)
    stars = sum(t.get_text() == "*" for ax in static.axes for t in ax.texts)
    assert stars == 3
    assert [ax.get_title() for ax in static.axes[:5]] == ["VISl", "VISp", "VISpm", "VISal", "VISam *"]
    inter = figures.plot_interactive(fd)
    sig = [t for t in inter.data if t.name == figures.SIGNIFICANT]
    assert sum(len(t.x) for t in sig) == 3
    assert "VISam *" in [a.text for a in inter.layout.annotations]
    assert any("95% interval" in (t.hovertemplate or "") for t in inter.data)


# ---------------------------------------------------------------------------------------
# robustness: original vs corrected protocol (known answers)

CONDITIONS = [(s, d) for s in study.DEFAULT_STIMULI for d in (175, 275)]
ALL_RAT = {a: 1.0 for a in study.AREAS}
TWO_RAT = {a: (1.0 if a in ("VISp", "VISl") else -1.0) for a in study.AREAS}


@pytest.fixture(scope="module")
def protocols_frame():
    """Rat wins everywhere under the original protocol, only in VISp and VISl under the corrected.

    Original: best-layer difference significant in VISp, VISl, VISam; corrected: in VISp only.
    """
    orig = [fabricate_table(s, d, protocol="original", with_ci=True, rat_boost=ALL_RAT) for s, d in CONDITIONS]
    corr = [fabricate_table(s, d, protocol="corrected", with_ci=True, rat_boost=TWO_RAT) for s, d in CONDITIONS]
    otests = [fabricate_tests(t, significant_areas=("VISp", "VISl", "VISam")) for t in orig]
    ctests = [fabricate_tests(t, significant_areas=("VISp",)) for t in corr]
    return figures.robustness_data(orig, corr, otests, ctests), orig, corr


def test_robustness_data_rows_and_values(protocols_frame):
    frame, orig, corr = protocols_frame
    assert len(frame) == 2 * len(CONDITIONS) * len(study.AREAS)
    assert list(frame["protocol"].iloc[:2]) == ["original", "corrected"]
    r = frame[(frame["stimulus"] == "natural_scenes") & (frame["depth"] == 175) & (frame["area"] == "VISpm")]
    o, c = r.iloc[0], r.iloc[1]
    assert o["higher"] == "rat" and c["higher"] == "treeshrew"
    models = orig[0][orig[0]["row_type"] == "model"]
    means = models[models["area"] == "VISpm"].groupby(["species", "layer"])["score"].mean()
    assert o["best_layer_rat"] == means.loc["rat"].idxmax()
    assert o["difference"] == pytest.approx(means.loc["rat"].max() - means.loc["treeshrew"].max())
    assert o["pathway_rat"] == study.layer_pathway(o["best_layer_rat"])
    ceil = figures.noise_ceilings(corr[0]).set_index("area").loc["VISpm"]
    assert c["ceiling"] == pytest.approx(ceil["median"]) and c["band"] == figures.BAND_NILI
    assert c["ceiling_low"] == pytest.approx(ceil["median"] - 0.05)
    assert c["ratio_rat"] == pytest.approx(c["score_rat"] / ceil["median"])
    assert o["tested"] and o["ci_high"] == pytest.approx(o["difference"] + 0.02)


def test_robustness_counts_and_statements(protocols_frame):
    frame, _, _ = protocols_frame
    k = figures.robustness_counts(frame)
    assert k["n"] == 20 and k["n_conditions"] == 4 and k["one_protocol_only"] == 0
    assert (k["rat_original"], k["rat_corrected"], k["rat_both"]) == (20, 8, 8)
    assert (k["treeshrew_corrected"], k["treeshrew_both"], k["sign_flips"]) == (12, 0, 12)
    assert (k["significant_original"], k["significant_corrected"], k["significant_both"]) == (12, 4, 4)
    assert k["rat_significant_both"] == 4 and k["treeshrew_significant_both"] == 0
    # a constant boost per area leaves each species' best layer where it was
    assert k["same_best_rat"] == 20 and k["same_best_treeshrew"] == 20 and k["same_pathway_rat"] == 20
    assert k["reach_original"] == 20 and k["reach_both"] >= 8
    text = figures.robustness_conclusions(frame)
    assert len(text) == 4
    assert text[0].startswith("Sign of the species difference: rat > treeshrew at the best layers in 8 of 20 "
                              "area × condition comparisons under both protocols (original: 20, corrected: 8)")
    assert "the sign differs between the protocols in 12" in text[0]
    assert "significant under both protocols in 4 of 20 comparisons (original: 12, corrected: 4)" in text[1]
    assert "rat > treeshrew and significant under both in 4" in text[1]
    assert "best layer is the same under both protocols in 20 of 20" in text[2]
    assert "in 20 of 20 comparisons under the original protocol" in text[3]


def test_robustness_without_tests_or_with_missing_conditions():
    orig = [fabricate_table(s, d, rat_boost=ALL_RAT) for s, d in CONDITIONS]
    corr = [fabricate_table("natural_scenes", 175, protocol="corrected", rat_boost=TWO_RAT)]
    frame = figures.robustness_data(orig, corr, None, [None])
    assert not frame["tested"].any() and frame["significant"].isna().all()
    assert frame["basis"].str.contains("seed medians").all()
    k = figures.robustness_counts(frame)
    assert k["n"] == 5 and k["one_protocol_only"] == 15 and k["rat_both"] == 2
    text = figures.robustness_conclusions(frame)
    assert "Significance cannot be compared in 5 of 5 comparisons" in text[1]
    assert text[-1].startswith("15 area × condition comparisons have a table under one protocol only")
    # medians, not means, without a tests table
    models = orig[0][orig[0]["row_type"] == "model"]
    med = models[models["area"] == "VISp"].groupby(["species", "layer"])["score"].median()
    row = frame[(frame["protocol"] == "original") & (frame["stimulus"] == "natural_scenes")
                & (frame["depth"] == 175) & (frame["area"] == "VISp")].iloc[0]
    assert row["best_layer_rat"] == med.loc["rat"].idxmax()
    assert figures.robustness_conclusions(figures.robustness_data(orig, [], None, None)) == []


def test_robustness_renderings(protocols_frame):
    frame, _, _ = protocols_frame
    static = figures.plot_robustness_static(frame, "t", "s")
    stars = sum(t.get_text() == "*" for ax in static.axes for t in ax.texts)
    assert stars == int(frame["significant"].fillna(False).sum()) == 16
    inter = figures.plot_robustness_interactive(frame, "t", "s")
    assert {t.name for t in inter.data} == {"Original protocol", "Corrected protocol"}
    assert sum(list(t.text).count("*") for t in inter.data) == 16
    assert "FDR-adjusted p" in inter.data[0].hovertemplate


def test_summary_carries_best_layer_intervals_and_band():
    t = fabricate_table("natural_scenes", 175, protocol="corrected", with_ci=True)
    s = figures.summary_data(t)
    models = t[t["row_type"] == "model"]
    r = s[(s["area"] == "VISp") & (s["species"] == "rat")].iloc[0]
    m = models[(models["area"] == "VISp") & (models["species"] == "rat") & (models["layer"] == r["best_layer"])]
    assert r["ci_high"] == pytest.approx(np.median(m["ci_high"]))
    assert r["ceiling_low"] == pytest.approx(r["noise_ceiling"] - 0.05)
    fig = figures.plot_summary_interactive(s, corrected=True)
    assert any(t.name == "Rat (best layer) 95% interval" for t in fig.data)
    figures.plot_summary_static(s, corrected=True)


# ---------------------------------------------------------------------------------------
# static figures are drawn at the PDF's text width, text >= 7 pt as printed


def _typst_text_width_in() -> float:
    """Text width of the book's Typst page, from _quarto.yml (papersize a4, margin x)."""
    import yaml

    cfg = yaml.safe_load((config.PROJECT_ROOT / "_quarto.yml").read_text())["format"]["typst"]
    assert cfg["papersize"] == "a4"
    margin = cfg["margin"]["x"]
    assert margin.endswith("cm")
    return (21.0 - 2 * float(margin[:-2])) / 2.54


def test_static_figures_are_printed_at_text_width_with_readable_text(table_ci, protocols_frame):
    from matplotlib.text import Text

    from analysis.bookbuild.layout import PDF_TEXT_WIDTH_IN

    assert figures.PRINT_WIDTH_IN == pytest.approx(_typst_text_width_in()) == pytest.approx(PDF_TEXT_WIDTH_IN)
    tests = fabricate_tests(table_ci, significant_areas=("VISam",), significant_layers={"VISp": ["out"]})
    summary = figures.summary_data([table_ci, fabricate_table("natural_movie_one", 275, with_ci=True)])
    drawn = [figures.plot_static(figures.figure_data(table_ci, tests=tests), figures.TITLE,
                                 figures.subtitle(study.CRE_LINE, 175, "natural_scenes")),
             figures.plot_summary_static(summary, "t", "s"),
             figures.plot_summary_static(summary, "t", "s", corrected=True),
             figures.plot_robustness_static(protocols_frame[0], "t", "s")]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for fig in drawn:
        FigureCanvasAgg(fig).draw()  # tick labels exist once drawn
        width, height = fig.get_size_inches()
        assert width == pytest.approx(figures.PRINT_WIDTH_IN) and height <= (29.7 - 5) / 2.54  # fits the page
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
        assert len(texts) > 20
        assert min(t.get_fontsize() for t in texts) >= figures.MIN_FONT_PT == 7.0
