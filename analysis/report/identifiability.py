"""The identifiability chapter: tables and computed statements from the identifiability tables.

Reads ``results/<source>/identifiability_{layers,species}.csv`` and the settings JSON
(:func:`analysis.tables.identifiability_paths`, written by
:func:`analysis.identifiability.write_identifiability`).
"""

from __future__ import annotations

import json

import pandas as pd

from analysis import study
from analysis.identifiability import binomial_interval, species_summary
from analysis.report.inference import relative_path
from analysis.report.markdown import STIMULUS_LABELS, markdown_table
from analysis.report.results import book_settings, record_read
from analysis.tables import identifiability_paths


def load_identifiability(source: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict] | None:
    """``(layers, species, settings)`` or None when the study was not run for this book."""
    source = source or book_settings()["source"]
    paths = identifiability_paths(source)
    for p in paths.values():
        record_read(p)
    if not all(p.is_file() for p in paths.values()):
        return None
    layers = pd.read_csv(paths["layers"], dtype={"planted_layer": str, "found_layer": str,
                                                 "planted_checkpoint": str, "found_checkpoint": str})
    layers["recovered"] = layers["recovered"].astype(str).str.lower().eq("true")
    species = pd.read_csv(paths["species"], dtype={"drive": str, "conclusion": str}, keep_default_na=False)
    return layers, species, json.loads(paths["meta"].read_text())


def _missing(source: str | None) -> str:
    source = source or book_settings()["source"]
    return ('::: {.callout-note title="Identifiability study not available"}\n'
            f"No identifiability tables (`{relative_path(identifiability_paths(source)['layers'])}`) exist for "
            "this build: run `python -m analysis identifiability` (part of `python -m analysis paper`).\n:::\n")


def _label(checkpoint: str, layer: str) -> str:
    return "pixel" if checkpoint == "pixel" else f"{checkpoint}/{layer}"


def design_text(source: str | None = None) -> str:
    """What was simulated (computed from the settings JSON)."""
    got = load_identifiability(source)
    if got is None:
        return _missing(source)
    _, _, meta = got
    d = meta["design"]
    n_cells = meta["n_cells"]
    return (f"The simulated cell is {d['area']} at {d['depth']} µm, "
            f"{STIMULUS_LABELS.get(d['stimulus'], d['stimulus'])}: {len(n_cells)} containers with "
            f"{sum(n_cells):,} cells imaged over their sessions (the real survey's counts), data seed "
            f"{d['data_seed']}, analysis seed {d['seed']}, {d['n_splits']} ceiling splits.\n")


def layers_markdown(source: str | None = None) -> str:
    """Computed summary of the layer recovery and the planted -> found table per protocol."""
    got = load_identifiability(source)
    if got is None:
        return _missing(source)
    layers, _, _ = got
    protocols = list(dict.fromkeys(layers["protocol"]))
    parts = []
    for p in protocols:
        r = layers[layers["protocol"] == p]
        same_net = (r["planted_checkpoint"] == r["found_checkpoint"]).sum()
        pos = {name: k for k, name in enumerate(study.LAYERS)}
        near = sum(1 for x in r.itertuples(index=False)
                   if x.planted_checkpoint == x.found_checkpoint and x.planted_checkpoint != "pixel"
                   and abs(pos[x.planted_layer] - pos[x.found_layer]) <= 1)
        parts.append(f"**{p} protocol**: the planted candidate is ranked best in {int(r['recovered'].sum())} of "
                     f"{len(r)} plants; the best one is of the planted network (or the pixel baseline) in "
                     f"{int(same_net)}; a network layer is found within one layer of the planted one in {near} "
                     f"of {int((r['planted_checkpoint'] != 'pixel').sum())}.")
    wide = None
    for p in protocols:
        r = layers[layers["protocol"] == p]
        col = pd.Series([("" if ok else "✗ ") + f"`{_label(c, lay)}`" for ok, c, lay in
                         zip(r["recovered"], r["found_checkpoint"], r["found_layer"])],
                        index=[_label(c, lay) for c, lay in zip(r["planted_checkpoint"], r["planted_layer"])],
                        name=f"found ({p})")
        wide = col.to_frame() if wide is None else wide.join(col)
    wide = wide.reset_index().rename(columns={"index": "planted"})
    wide["planted"] = [f"`{x}`" for x in wide["planted"]]
    return "\n\n".join(parts) + "\n\n" + markdown_table(wide, align="l" * wide.shape[1]) + "\n"


def species_markdown(source: str | None = None) -> str:
    """Power and false-positive rate against the number of containers, and the computed statement."""
    got = load_identifiability(source)
    if got is None:
        return _missing(source)
    _, species, meta = got
    d = meta["design"]
    s = species_summary(species)
    rows = []
    for n, g in s.groupby("n_containers"):
        row = {"containers": int(n)}
        for r in g.itertuples(index=False):
            name = {"rat": "power (rat)", "treeshrew": "power (treeshrew)", "null": "false positives (null)"}[r.drive]
            row[name] = f"{r.rate:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
        rows.append(row)
    table = markdown_table(pd.DataFrame(rows), align="l" + "r" * (len(rows[0]) - 1))
    n_real = len(meta["n_cells"])
    at = s[s["n_containers"] == min(n_real, int(s["n_containers"].max()))]
    power = at[at["measure"] == "power"]
    null = at[at["measure"] == "false_positive"].iloc[0]
    k_pow = int(round((power["rate"] * power["replicates"]).sum()))
    m_pow = int(power["replicates"].sum())
    lo, hi = binomial_interval(k_pow, m_pow)
    eff = species[(species["drive"] != "null") & (species["n_containers"] == at["n_containers"].iloc[0])]
    size = eff["difference"].abs().median()
    wrong = int(power["wrong_family"].sum())
    nulls = species[(species["drive"] == "null") & (species["n_containers"] == at["n_containers"].iloc[0])]
    null_max = nulls["difference"].abs().max()
    enough = s[(s["measure"] == "power")].groupby("n_containers")["rate"].min()
    n80 = next((int(n) for n, v in enough.items() if v >= 0.8), None)
    verdict = (f"power reaches 0.8 for both families from {n80} containers on" if n80 is not None else
               "power does not reach 0.8 at any number of containers simulated")
    believable = n80 is not None and n80 <= n_real and null.ci_low <= d["alpha"]
    text = (
        f"With a family's `{d['family_layer']}` features driving {d['family_weight']:.0%} of the drive "
        f"variance, at the real survey's size ({n_real} containers) the paired test at the best layers "
        f"(α = {d['alpha']}, {d['n_boot']} bootstrap draws) concluded the planted family in {k_pow} of {m_pow} "
        f"replicates (power {k_pow / m_pow:.2f}, 95% interval {lo:.2f}–{hi:.2f}), the wrong family in {wrong}, "
        f"and under the null in {int(round(null.rate * null.replicates))} of {int(null.replicates)} "
        f"(false-positive rate {null.rate:.2f}, interval {null.ci_low:.2f}–{null.ci_high:.2f}); {verdict}. "
        f"The median best-layer difference the planted families produced was {size:.3f} (tau-a); under the "
        f"null, with both families driving the population equally, it reached {null_max:.3f} in magnitude. ")
    if believable:
        text += (f"The original study's conclusion, \"more similar to the rat-trained networks\", would be "
                 f"believable at this size only with a paired test at the best layers significant at "
                 f"α = {d['alpha']} (the original ran none) and a difference of the order of {size:.3f} or more.")
    else:
        text += ("At the real survey's size this design therefore cannot make the original study's conclusion, "
                 "\"more similar to the rat-trained networks\", believable: a family difference as large as the "
                 "planted one is not reliably detected, and the null yields a conclusion "
                 f"{'more often than α' if null.ci_low > d['alpha'] else 'at a rate not shown to stay within α'}. "
                 "It would need a larger difference than the one planted here, more containers than the survey "
                 "has, or a test whose false-positive rate under this null stays at α.")
    return text + "\n\n" + table + "\n"
