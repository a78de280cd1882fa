"""Test helper: fabricate result tables and provenance in the pipeline's schema.

Only for tests. Values are random but seeded; nothing here resembles a finding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import config

SEEDS = (1, 2, 3, 4, 5)


def fabricate_table(stimulus: str = "natural_scenes", depth: int = 175, source: str = "synthetic",
                    seed: int = 0, areas=config.AREAS, seeds=SEEDS) -> pd.DataFrame:
    """A result table for one (source, stimulus, depth) with every column the pipeline writes."""
    rng = np.random.default_rng([seed, depth, config.STIMULI.index(stimulus)])
    rows = []
    common = dict(source=source, stimulus=stimulus, depth=depth, cre_line=config.CRE_LINE,
                  n_conditions=118 if stimulus == "natural_scenes" else 60)
    for area in areas:
        n_neurons = int(rng.integers(300, 2000))
        n_exp = int(rng.integers(3, 10))
        area_common = dict(common, area=area, n_neurons=n_neurons, n_experiments=n_exp)
        nc = float(rng.uniform(0.3, 0.7))
        rows.append(dict(area_common, row_type="noise_ceiling", species="", seed="", checkpoint="",
                         layer="", pathway="", score=nc, score_sd=float(rng.uniform(0.02, 0.08))))
        rows.append(dict(area_common, row_type="baseline", species="", seed="", checkpoint="",
                         layer="pixel", pathway="pixel", score=float(rng.uniform(0.05, 0.3)),
                         score_sd=float(rng.uniform(0.001, 0.01))))
        for species in config.SPECIES:
            for s in seeds:
                for layer in config.LAYERS:
                    rows.append(dict(
                        area_common, row_type="model", species=species, seed=s,
                        checkpoint=f"{species}{s}", layer=layer,
                        pathway=config.layer_pathway(layer),
                        score=float(rng.uniform(0.05, 0.35)),
                        score_sd=float(rng.uniform(0.005, 0.02)),
                    ))
    return pd.DataFrame(rows)


def fabricate_provenance(table: pd.DataFrame) -> dict:
    first = table.iloc[0]
    areas = {}
    for area, t in table.groupby("area"):
        n_exp = int(t["n_experiments"].iloc[0])
        areas[area] = dict(n_containers=max(1, n_exp // 3 or 1), n_experiments=n_exp,
                           n_neurons=int(t["n_neurons"].iloc[0]),
                           container_ids=list(range(100, 100 + max(1, n_exp // 3))),
                           experiment_ids=list(range(5000, 5000 + n_exp)))
    ckpts = sorted(c for c in table["checkpoint"].astype(str).unique() if c)
    return dict(
        source=str(first["source"]), stimulus=str(first["stimulus"]), depth=int(first["depth"]),
        cre_line=str(first["cre_line"]), seed=42, protocol="original", movie_bin=15,
        areas=areas, checkpoints={c: f"{abs(hash(c)) % 10**8:08d}" * 8 for c in ckpts},
        packages={"numpy": "1.23.5", "pandas": "1.5.3", "rsatoolbox": "0.3.2"},
        git_commit="0" * 40, python="3.11.0",
    )


def write_results(stimulus: str = "natural_scenes", depth: int = 175,
                  source: str = "synthetic", seed: int = 0) -> Path:
    """Write ``results/<source>/<stimulus>_<depth>.csv`` and ``.json`` under ``$RSA_RESULTS``."""
    table = fabricate_table(stimulus, depth, source, seed)
    path = config.results_path(source, stimulus, depth)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    path.with_suffix(".json").write_text(json.dumps(fabricate_provenance(table), indent=1))
    return path
