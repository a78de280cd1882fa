"""Text computed from the result tables: a result chapter's summary, the methods' counts, the conclusion."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from analysis import config, study
from analysis.report import figures
from analysis.report.markdown import STIMULUS_LABELS, SYNTHETIC_NOTICE, is_synthetic, markdown_table
from analysis.report.results import book_settings, load_all_results


def results_text(table: pd.DataFrame, provenance: dict[str, Any] | None = None,
                 fig_label: str = "fig-rsa", corrected_label: str = "fig-rsa-corrected") -> str:
    """A short paragraph computed from one table: which species scores higher where."""
    provenance = provenance or {}
    summary = figures.summary_data(table)
    if not len(summary):
        return "The table holds no model scores.\n"
    comp = figures.species_comparison(summary)
    n = len(comp)
    rat = comp.loc[comp["higher"] == "rat", "area"].tolist()
    ts = comp.loc[comp["higher"] == "treeshrew", "area"].tolist()
    stim = str(summary["stimulus"].iloc[0])
    depth = int(summary["depth"].iloc[0])

    def listing(areas: list[str]) -> str:
        return ", ".join(areas) if areas else "none"

    best = summary.pivot_table(index="area", columns="species", values="best_layer", aggfunc="first")
    frac = summary["corrected_value"]
    text = (
        f"For {STIMULUS_LABELS.get(stim, stim)} at {depth} µm, the best layer of the rat-trained "
        f"networks (median over seeds) scores higher than the best layer of the treeshrew-trained "
        f"networks in {len(rat)} of {n} areas ({listing(rat)}), and lower in {len(ts)} "
        f"({listing(ts)}) (@{fig_label}). Best-layer scores reach "
        f"{frac.min():.0%} to {frac.max():.0%} of the areas' noise ceilings (@{corrected_label}). "
        f"Best layers: " + "; ".join(
            f"{a}: rat `{best.loc[a].get('rat', '-')}`, treeshrew `{best.loc[a].get('treeshrew', '-')}`"
            for a in study.AREAS if a in best.index) + ". "
        "Differences smaller than the error bars (SD over five seeds) should not be read as effects."
    )
    if is_synthetic(provenance=provenance, source=str(table["source"].iloc[0]) if "source" in table else None):
        text += f" These are **{SYNTHETIC_NOTICE}**."
    return text + "\n"


def methods_counts_table(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None) -> str:
    """Markdown table: containers / experiments / neurons per area, stimulus and depth."""
    loaded = load_all_results(source, grid)
    rows = []
    for table, prov in loaded:
        stim, depth = prov.get("stimulus"), prov.get("depth")
        if stim is None and len(table):
            stim, depth = table["stimulus"].iloc[0], int(table["depth"].iloc[0])
        areas = prov.get("areas", {})
        for area in study.AREAS:
            a = areas.get(area)
            if a is None:
                t = table[table["area"] == area]
                if not len(t):
                    continue
                a = dict(n_containers="", n_experiments=int(t["n_experiments"].iloc[0]),
                         n_neurons=int(t["n_neurons"].iloc[0]))
            rows.append({"stimulus": STIMULUS_LABELS.get(stim, stim), "depth (µm)": depth,
                         "area": area, "containers": a.get("n_containers", ""),
                         "experiments": a.get("n_experiments", ""), "neurons": a.get("n_neurons", "")})
    if not rows:
        return "*No result tables yet.*\n"
    return markdown_table(pd.DataFrame(rows), align="lrlrrr") + "\n"


def conclusion_text(source: str | None = None, grid: Sequence[tuple[str, int]] | None = None) -> str:
    """The conclusion, computed from all result tables of the book."""
    if source is None:
        source = book_settings()["source"]
    loaded = load_all_results(source, grid)
    tables = [t for t, _ in loaded]
    summary = figures.summary_data(tables)
    if not len(summary):
        return "*No result tables yet: nothing to conclude.*\n"
    comp = figures.species_comparison(summary)
    n = len(comp)
    n_rat = int((comp["higher"] == "rat").sum())
    n_ts = int((comp["higher"] == "treeshrew").sum())
    per = []
    for (stim, depth), c in comp.groupby(["stimulus", "depth"], sort=False):
        per.append(f"{STIMULUS_LABELS.get(stim, stim)} at {depth} µm: rat higher in "
                   f"{int((c['higher'] == 'rat').sum())} of {len(c)} areas")
    # how often the species difference exceeds the seed SD of both species
    wide_sd = (summary.pivot_table(index=["stimulus", "depth", "area"], columns="species", values="sd",
                                   aggfunc="first", dropna=False)  # one seed per species: SD NaN, kept
               .reindex(columns=list(study.SPECIES)).add_suffix("_sd").reset_index())
    merged = comp.merge(wide_sd, on=["stimulus", "depth", "area"])
    clear = int((merged["difference"].abs() > merged[["rat_sd", "treeshrew_sd"]].max(axis=1)).sum())
    frac = summary["corrected_value"]
    leader = ("the rat-trained networks" if n_rat > n_ts else
              "the treeshrew-trained networks" if n_ts > n_rat else "neither species")
    paras = [
        f"Across the {len(tables)} stimulus × depth combinations of this build and the five visual "
        f"areas of each, {leader} came out ahead more often: the best layer of the rat-trained "
        f"networks scored higher in {n_rat} of {n} area comparisons and the treeshrew-trained ones "
        f"in {n_ts} ({'; '.join(per)}). In {clear} of the {n} comparisons the difference between "
        f"the species exceeded the standard deviation over seeds of both. Best-layer scores ranged "
        f"from {frac.min():.0%} to {frac.max():.0%} of the areas' split-half noise ceilings.",
    ]
    if is_synthetic(source):
        paras.append(
            "**These results come from synthetic data: nothing here is a finding about mice.** "
            "The synthetic recordings were generated to exercise the pipeline; whichever species "
            "scores higher on them reflects how they were generated and chance, not mouse visual "
            "cortex. The original study's conclusion (mouse visual cortex is more similar to the "
            "rat-trained networks) can only be checked by rebuilding this book from the Allen "
            "Brain Observatory (`source = \"allen\"`)."
        )
    else:
        agree = "agrees with" if n_rat > n_ts else "does not reproduce"
        paras.append(
            f"On the Allen Brain Observatory recordings this {agree} the original study's "
            "conclusion that mouse visual cortex is more similar to the rat-trained networks than "
            "to the treeshrew-trained ones. The comparison rests on five seeds per species and "
            "one cre line; differences within the seed spread should not be over-interpreted."
        )
    return "\n\n".join(paras) + "\n"
