"""The identifiability chapter's text and tables, from small hand-made tables (fast)."""

from __future__ import annotations

import json

import pandas as pd

from analysis import study, tables
from analysis.report import identifiability as rep


def _write(source: str = "synthetic") -> None:
    p = tables.identifiability_paths(source)
    p["layers"].parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for proto in ("original", "corrected"):
        rows += [
            {"protocol": proto, "planted_checkpoint": "pixel", "planted_layer": study.PIXEL_LAYER,
             "found_checkpoint": "pixel", "found_layer": study.PIXEL_LAYER, "planted_score": 0.3,
             "found_score": 0.3, "recovered": True},
            {"protocol": proto, "planted_checkpoint": "rat1", "planted_layer": "p1_res_block2",
             "found_checkpoint": "rat1", "found_layer": "p1_res_block3", "planted_score": 0.2,
             "found_score": 0.25, "recovered": False},
        ]
    pd.DataFrame(rows).to_csv(p["layers"], index=False)
    sp = []
    for drive in ("rat", "treeshrew", "null"):
        for r in range(4):
            for n in (2, 8):
                hit = {"rat": "rat", "treeshrew": "treeshrew", "null": "none"}[drive] if r < 3 else "none"
                sp.append({"drive": drive, "replicate": r, "n_containers": n, "data_seed": r, "difference": 0.02,
                           "ci_low": 0.0, "ci_high": 0.04, "p": 0.01 if hit != "none" else 0.5, "conclusion": hit})
    pd.DataFrame(sp).to_csv(p["species"], index=False)
    design = {"stimulus": "natural_scenes", "area": "VISp", "depth": 175, "data_seed": 0, "seed": 42, "n_splits": 20,
              "family_layer": "p1_res_block3", "family_weight": 0.5, "alpha": 0.05, "n_boot": 200}
    p["meta"].write_text(json.dumps({"key": "x", "design": design, "n_cells": [100] * 8}))


def test_chapter_parts_are_computed_from_the_tables(isolated_env):
    _write()
    text = rep.design_text("synthetic")
    assert "VISp at 175 µm" in text and "8 containers" in text and "800 cells" in text
    layers = rep.layers_markdown("synthetic")
    assert "ranked best in 1 of 2 plants" in layers and "within one layer of the planted one in 1 of 1" in layers
    assert "✗ `rat1/p1_res_block3`" in layers
    species = rep.species_markdown("synthetic")
    assert "concluded the planted family in 6 of 8 replicates" in species
    assert "power reaches 0.8" not in species  # 3 of 4 = 0.75 at every size
    assert "| 2 |" in species and "| 8 |" in species


def test_chapter_notes_missing_tables(isolated_env):
    assert "Identifiability study not available" in rep.layers_markdown("synthetic")
