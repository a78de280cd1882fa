"""Figure data (known answers) and the two renderings of analysis.figures."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from analysis import config, figures
from fabricate_results import fabricate_table


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
    for area in config.AREAS:
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
    assert len(s) == len(config.AREAS) * len(config.SPECIES)
    models = table[table["row_type"] == "model"]
    med = models.groupby(["area", "species", "layer"])["score"].median()
    for r in s.itertuples():
        per_layer = med.loc[(r.area, r.species)]
        assert r.best_layer == per_layer.idxmax()
        assert r.value == pytest.approx(per_layer.max())
        assert r.corrected_value == pytest.approx(r.value / r.noise_ceiling)
    comp = figures.species_comparison(s)
    assert set(comp["higher"]) <= {"rat", "treeshrew", "tie"}
    assert list(comp["area"]) == list(config.AREAS)


def test_figure_data_refuses_mixed_or_incomplete_tables(table):
    with pytest.raises(ValueError, match="lacks columns"):
        figures.figure_data(table.drop(columns=["score_sd"]))
    with pytest.raises(ValueError, match="unknown layer"):
        bad = table.copy()
        bad.loc[bad["row_type"] == "model", "layer"] = "conv9"
        figures.figure_data(bad)


def test_static_and_interactive_renderings(table):
    fd = figures.figure_data(table)
    sub = figures.subtitle(config.CRE_LINE, 175, "natural_scenes")
    static = figures.plot_static(fd, figures.TITLE, sub)
    titles = [ax.get_title() for ax in static.axes if ax.get_visible()]
    assert titles == list(config.AREAS)
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
