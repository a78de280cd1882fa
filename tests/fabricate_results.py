"""Test helper: fabricate result tables and provenance in the pipeline's schema.

Only for tests. Values are random but seeded; nothing here resembles a finding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import config, study, tables

SEEDS = (1, 2, 3, 4, 5)


def fabricate_table(stimulus: str = "natural_scenes", depth: int = 175, source: str = "synthetic",
                    seed: int = 0, areas=study.AREAS, seeds=SEEDS, protocol: str = "original",
                    with_ci: bool = False, rat_boost: dict[str, float] | None = None) -> pd.DataFrame:
    """A result table for one (source, stimulus, depth) with every column the pipeline writes.

    ``protocol="corrected"`` adds ``nili_lower``/``nili_upper`` rows per area (lower
    = ceiling - 0.05, upper = ceiling + 0.03); ``with_ci`` adds ``ci_low``/``ci_high``
    (score - U(0.01, 0.03), score + U(0.01, 0.03)); ``rat_boost`` adds a constant to
    every rat score of the named areas (known answers for species comparisons).
    The scores themselves do not depend on ``protocol`` or ``with_ci``.
    """
    rng = np.random.default_rng([seed, depth, study.STIMULUS_NAMES.index(stimulus)])
    rows = []
    common = dict(source=source, stimulus=stimulus, depth=depth, cre_line=study.CRE_LINE,
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
        for species in study.SPECIES:
            for s in seeds:
                for layer in study.LAYERS:
                    rows.append(dict(
                        area_common, row_type="model", species=species, seed=s,
                        checkpoint=f"{species}{s}", layer=layer,
                        pathway=study.layer_pathway(layer),
                        score=float(rng.uniform(0.05, 0.35)),
                        score_sd=float(rng.uniform(0.005, 0.02)),
                    ))
    table = pd.DataFrame(rows)
    if rat_boost:
        for area, boost in rat_boost.items():
            sel = (table["area"] == area) & (table["species"] == "rat")
            table.loc[sel, "score"] += boost
    extra = np.random.default_rng([seed, depth, study.STIMULUS_NAMES.index(stimulus), 7])
    if protocol == "corrected":
        nc = table[table["row_type"] == "noise_ceiling"]
        bounds = []
        for r in nc.to_dict("records"):
            for kind, delta in (("nili_lower", -0.05), ("nili_upper", 0.03)):
                bounds.append(dict(r, row_type=kind, score=r["score"] + delta, score_sd=np.nan))
        table = pd.concat([table, pd.DataFrame(bounds)], ignore_index=True)
    if with_ci:
        table["ci_low"] = table["score"] - extra.uniform(0.01, 0.03, len(table))
        table["ci_high"] = table["score"] + extra.uniform(0.01, 0.03, len(table))
    table["protocol"] = protocol
    return table


def fabricate_tests(table: pd.DataFrame, significant_areas=(), significant_layers=None) -> pd.DataFrame:
    """A tests table for ``table`` in the pipeline's layout (known answers).

    Means over seeds per area x layer give ``mean_a`` (rat), ``mean_b`` (treeshrew)
    and ``difference``; the ``best_layer`` row uses each species' best layer of the
    means. ``p`` is 1e-4 for the best-layer test of ``significant_areas`` and for
    the layers in ``significant_layers`` (``{area: [layer, ...]}``), 0.6 elsewhere,
    so exactly those rows are significant after FDR (Benjamini-Hochberg over the table).
    """
    from analysis import stats

    significant_layers = significant_layers or {}
    models = table[table["row_type"] == "model"]
    means = models.groupby(["area", "species", "layer"])["score"].mean()
    first = table.iloc[0]
    rows = []
    for area in [a for a in study.AREAS if a in set(models["area"])]:
        ma, mb = means.loc[(area, "rat")], means.loc[(area, "treeshrew")]
        for layer in study.LAYERS:
            d = float(ma[layer] - mb[layer])
            p = 1e-4 if layer in significant_layers.get(area, ()) else 0.6
            rows.append(dict(area=area, test="layer", layer=layer, layer_a=layer, layer_b=layer,
                             mean_a=float(ma[layer]), mean_b=float(mb[layer]), difference=d,
                             ci_low=d - 0.02, ci_high=d + 0.02, p=p, p_seeds=p))
        la, lb = str(ma.idxmax()), str(mb.idxmax())
        d = float(ma.max() - mb.max())
        p = 1e-4 if area in significant_areas else 0.6
        rows.append(dict(area=area, test="best_layer", layer="", layer_a=la, layer_b=lb,
                         mean_a=float(ma.max()), mean_b=float(mb.max()), difference=d,
                         ci_low=d - 0.02, ci_high=d + 0.02, p=p, p_seeds=p))
    out = stats.add_fdr(pd.DataFrame(rows))
    for col in ("stimulus", "depth", "source"):
        out[col] = first[col]
    out["protocol"] = first.get("protocol", "original")
    return out


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
                  source: str = "synthetic", seed: int = 0, protocol: str = "original",
                  with_ci: bool = False, tests: bool = False, significant_areas=(),
                  significant_layers=None, rat_boost=None) -> Path:
    """Write ``tables.results_path(source, stimulus, depth, protocol=protocol)`` and its ``.json``
    under ``$RSA_RESULTS``; with ``tests`` also the tests table (:func:`fabricate_tests`)."""
    table = fabricate_table(stimulus, depth, source, seed, protocol=protocol, with_ci=with_ci,
                            rat_boost=rat_boost)
    path = tables.results_path(source, stimulus, depth, protocol=protocol)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    prov = fabricate_provenance(table)
    prov.update(protocol=protocol, n_boot=1000 if with_ci else 0)
    path.with_suffix(".json").write_text(json.dumps(prov, indent=1))
    if tests:
        write_tests(table, significant_areas, significant_layers)
    return path


def write_tests(table: pd.DataFrame, significant_areas=(), significant_layers=None) -> Path:
    """Write the tests table of ``table`` (:func:`fabricate_tests`) where the pipeline would."""
    t = fabricate_tests(table, significant_areas, significant_layers)
    first = table.iloc[0]
    path = tables.results_path(str(first["source"]), str(first["stimulus"]), int(first["depth"]),
                               protocol=str(first.get("protocol", "original")), kind="tests")
    path.parent.mkdir(parents=True, exist_ok=True)
    t.to_csv(path, index=False)
    return path


GROUND_TRUTH_COLUMNS = ("area", "planted_checkpoint", "planted_layer", "best_layer", "score", "ci_low",
                        "ci_high", "ceiling_low", "ceiling_high", "recovered")


def write_ground_truth(source: str = "synthetic") -> Path:
    """A ground-truth recovery table (two planted areas: one recovered, one not)."""
    rows = [
        dict(area="VISp", planted_checkpoint="rat1", planted_layer="p1_res_block3",
             best_layer="p1_res_block3", score=0.41, ci_low=0.36, ci_high=0.47, ceiling_low=0.44,
             ceiling_high=0.52, recovered=True),
        dict(area="VISam", planted_checkpoint="ts2", planted_layer="p2_res_block5",
             best_layer="p2_res_block4", score=0.18, ci_low=0.12, ci_high=0.22, ceiling_low=0.30,
             ceiling_high=0.38, recovered=False),
    ]
    path = config.results_root() / source / "ground_truth.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(GROUND_TRUTH_COLUMNS)).to_csv(path, index=False)
    return path
