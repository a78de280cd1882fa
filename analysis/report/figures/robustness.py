"""The original vs the corrected protocol: tidy comparison, its counts and the computed statements."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import config, study
from analysis.report.figures.data import check_columns, layer_stats, noise_ceilings, tests_of
from analysis.report.figures.style import ALTERNATIVE, PROTOCOLS, REFERENCE


_ROBUSTNESS_COLUMNS = [
    "stimulus", "depth", "area", "protocol", "best_layer_rat", "best_layer_treeshrew",
    "pathway_rat", "pathway_treeshrew", "score_rat", "score_treeshrew", "upper_rat",
    "upper_treeshrew", "difference", "higher", "ci_low", "ci_high", "p_fdr", "significant",
    "tested", "ceiling", "ceiling_low", "ceiling_high", "band", "ratio_rat", "ratio_treeshrew",
    "reaches_ceiling", "basis",
]


def _frames(tables) -> list[pd.DataFrame]:
    if tables is None:
        return []
    if isinstance(tables, pd.DataFrame):
        tables = [tables]
    return [t for t in tables if t is not None and len(t)]


def _protocol_rows(tables, tests, protocol: str) -> list[dict]:
    rows: list[dict] = []
    frames = _frames(tables)
    if not frames:
        return rows
    full = pd.concat(frames, ignore_index=True)
    check_columns(full, ["stimulus", "depth", "area", "row_type", "species", "layer", "score"])
    tfr = _frames(tests)
    tst = tests_of(pd.concat(tfr, ignore_index=True)) if tfr else tests_of(None)
    if len(tst):
        check_columns(tst, ["stimulus", "depth", "layer_a", "layer_b", "mean_a", "mean_b"])
        tst = tst[tst["test"] == "best_layer"]
    for (stimulus, depth), t in full.groupby(["stimulus", "depth"], sort=False):
        nc = noise_ceilings(t).set_index("area")
        stats = layer_stats(t[t["row_type"] == "model"]).set_index(["area", "species", "layer"])
        bt = tst[(tst["stimulus"].astype(str) == str(stimulus)) & (tst["depth"].astype(int) == int(depth))] \
            if len(tst) else tst
        for area in [a for a in study.AREAS if a in set(t["area"])]:
            if area not in stats.index.get_level_values(0):
                continue
            per = stats.loc[area]
            test = bt[bt["area"] == area]
            r: dict = dict(stimulus=stimulus, depth=int(depth), area=area, protocol=protocol)
            if len(test):
                x = test.iloc[0]
                layers = {"rat": str(x["layer_a"]), "treeshrew": str(x["layer_b"])}
                scores = {"rat": float(x["mean_a"]), "treeshrew": float(x["mean_b"])}
                r.update(difference=float(x["difference"]), ci_low=float(x["ci_low"]),
                         ci_high=float(x["ci_high"]), p_fdr=float(x["p_fdr"]),
                         significant=bool(x["significant"]), tested=True,
                         basis="best-layer test (seed means)")
            else:
                layers, scores = {}, {}
                for sp in study.SPECIES:
                    if sp in per.index.get_level_values(0):
                        v = per.loc[sp]["value"]
                        layers[sp], scores[sp] = str(v.idxmax()), float(v.max())
                r.update(difference=scores.get("rat", np.nan) - scores.get("treeshrew", np.nan),
                         ci_low=np.nan, ci_high=np.nan, p_fdr=np.nan, significant=pd.NA, tested=False,
                         basis="seed medians (no tests table)")
            ceiling = float(nc["median"].get(area, np.nan))
            for sp in study.SPECIES:
                layer = layers.get(sp, "")
                r[f"best_layer_{sp}"] = layer
                r[f"pathway_{sp}"] = study.layer_pathway(layer) if layer else ""
                r[f"score_{sp}"] = scores.get(sp, np.nan)
                hi = np.nan
                if layer and (sp, layer) in per.index:
                    hi = float(per.loc[(sp, layer), "ci_high"])
                r[f"upper_{sp}"] = hi if np.isfinite(hi) else r[f"score_{sp}"]
                r[f"ratio_{sp}"] = r[f"score_{sp}"] / ceiling if ceiling else np.nan
            d = r["difference"]
            r["higher"] = "rat" if d > 0 else "treeshrew" if d < 0 else "tie"
            r.update(ceiling=ceiling, ceiling_low=float(nc["low"].get(area, np.nan)),
                     ceiling_high=float(nc["high"].get(area, np.nan)), band=str(nc["band"].get(area, "")))
            r["reaches_ceiling"] = bool(np.nanmax([r["upper_rat"], r["upper_treeshrew"]]) >= r["ceiling_low"])
            rows.append(r)
    return rows


def robustness_data(original_tables, corrected_tables, original_tests=None,
                    corrected_tests=None) -> pd.DataFrame:
    """Side-by-side comparison of the two protocols (tidy: one row per condition x area x protocol).

    Parameters
    ----------
    original_tables, corrected_tables
        Score tables (one per stimulus x depth, or their concatenation) of each
        protocol. Corrected tables carry ``nili_lower``/``nili_upper`` rows.
    original_tests, corrected_tests
        Tests tables of each protocol (same layout; entries may be None, or the
        argument None, when no tests were run); matched on ``stimulus, depth, area``.

    Returns
    -------
    pandas.DataFrame
        One row per stimulus x depth x area x protocol with columns
        ``best_layer_rat, best_layer_treeshrew, pathway_rat, pathway_treeshrew,
        score_rat, score_treeshrew`` (each species' best layer and its score),
        ``upper_rat, upper_treeshrew`` (upper end of that score's 95 % interval:
        median over seeds of ``ci_high``; the score itself without intervals),
        ``difference`` (rat - treeshrew at the best layers), ``higher``,
        ``ci_low, ci_high, p_fdr, significant, tested`` (the tests table's
        ``best_layer`` row; NaN / NA and ``tested=False`` without one),
        ``ceiling`` (median noise ceiling), ``ceiling_low, ceiling_high, band``
        (the band: Nili bounds under the corrected protocol, median -+ SD
        otherwise), ``ratio_rat, ratio_treeshrew`` (score / ceiling),
        ``reaches_ceiling`` (the higher upper end reaches ``ceiling_low``) and
        ``basis``. With a tests table the best layers and scores are those of the
        test (seed means); without one, the figures' seed medians.
    """
    rows = _protocol_rows(original_tables, original_tests, REFERENCE) \
        + _protocol_rows(corrected_tables, corrected_tests, ALTERNATIVE)
    out = pd.DataFrame(rows, columns=_ROBUSTNESS_COLUMNS)
    out["significant"] = out["significant"].astype("boolean")
    out["tested"] = out["tested"].astype(bool)
    out["reaches_ceiling"] = out["reaches_ceiling"].astype(bool)
    stim_order = {v: i for i, v in enumerate(study.STIMULUS_NAMES)}
    area_order = {v: i for i, v in enumerate(study.AREAS)}
    prot_order = {v: i for i, v in enumerate(PROTOCOLS)}
    out = out.sort_values(["stimulus", "depth", "area", "protocol"], key=lambda s: (
        s.map(stim_order) if s.name == "stimulus" else s.map(area_order) if s.name == "area"
        else s.map(prot_order) if s.name == "protocol" else s))
    return out.reset_index(drop=True)


def robustness_counts(frame: pd.DataFrame) -> dict:
    """The counts behind :func:`robustness_conclusions` (comparisons present under both protocols).

    A comparison is one stimulus x depth x area. Keys: ``n`` (comparisons under
    both protocols), ``n_conditions``, ``one_protocol_only``; per protocol
    ``P`` in ``original``/``corrected``: ``rat_P``, ``treeshrew_P`` (higher
    species), ``tested_P``, ``significant_P``, ``reach_P`` (reaches the ceiling),
    ``ratio_min_P``, ``ratio_max_P`` (best-layer score / ceiling over both species);
    across protocols: ``rat_both``, ``treeshrew_both``, ``sign_flips``,
    ``tested_both``, ``significant_both``, ``significant_both_same_sign``,
    ``rat_significant_both``, ``treeshrew_significant_both``, ``same_best_rat``,
    ``same_best_treeshrew``, ``same_pathway_rat``, ``same_pathway_treeshrew``,
    ``reach_both``.
    """
    keys = ["stimulus", "depth", "area"]
    o = frame[frame["protocol"] == REFERENCE].set_index(keys)
    c = frame[frame["protocol"] == ALTERNATIVE].set_index(keys)
    both = o.index.intersection(c.index)
    o, c = o.loc[both], c.loc[both]
    counts: dict = {"n": int(len(both)),
                    "n_conditions": int(len({k[:2] for k in both})),
                    "one_protocol_only": int(len(frame.set_index(keys).index.unique()) - len(both))}
    for name, f in ((REFERENCE, o), (ALTERNATIVE, c)):
        counts[f"rat_{name}"] = int((f["higher"] == "rat").sum())
        counts[f"treeshrew_{name}"] = int((f["higher"] == "treeshrew").sum())
        counts[f"tested_{name}"] = int(f["tested"].sum())
        counts[f"significant_{name}"] = int(f["significant"].fillna(False).astype(bool).sum())
        counts[f"reach_{name}"] = int(f["reaches_ceiling"].sum())
        ratios = pd.concat([f["ratio_rat"], f["ratio_treeshrew"]]).astype(float)
        counts[f"ratio_min_{name}"] = float(ratios.min()) if len(ratios) else np.nan
        counts[f"ratio_max_{name}"] = float(ratios.max()) if len(ratios) else np.nan
    rat = (o["higher"] == "rat") & (c["higher"] == "rat")
    ts = (o["higher"] == "treeshrew") & (c["higher"] == "treeshrew")
    so = o["significant"].fillna(False).astype(bool)
    sc = c["significant"].fillna(False).astype(bool)
    counts.update(
        rat_both=int(rat.sum()), treeshrew_both=int(ts.sum()),
        sign_flips=int(((o["higher"] != c["higher"])).sum()),
        tested_both=int((o["tested"] & c["tested"]).sum()),
        significant_both=int((so & sc).sum()),
        significant_both_same_sign=int((so & sc & (o["higher"] == c["higher"])).sum()),
        rat_significant_both=int((rat & so & sc).sum()),
        treeshrew_significant_both=int((ts & so & sc).sum()),
        same_best_rat=int((o["best_layer_rat"] == c["best_layer_rat"]).sum()),
        same_best_treeshrew=int((o["best_layer_treeshrew"] == c["best_layer_treeshrew"]).sum()),
        same_pathway_rat=int((o["pathway_rat"] == c["pathway_rat"]).sum()),
        same_pathway_treeshrew=int((o["pathway_treeshrew"] == c["pathway_treeshrew"]).sum()),
        reach_both=int((o["reaches_ceiling"] & c["reaches_ceiling"]).sum()),
    )
    return counts


def _pct_range(lo: float, hi: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    return f"{lo:.0%}" if round(lo, 2) == round(hi, 2) else f"{lo:.0%} to {hi:.0%}"


def robustness_conclusions(frame: pd.DataFrame) -> list[str]:
    """Statements, computed from :func:`robustness_data`, of which conclusions hold under both protocols.

    One statement each on: the sign of the species difference at the best
    layers; its significance after FDR; the identity and pathway of each
    species' best layer; whether best-layer scores reach the noise ceiling.
    Every statement gives its counts out of the comparisons (stimulus x depth x
    area) present under both protocols. Returns ``[]`` when there are none.
    """
    k = robustness_counts(frame)
    n = k["n"]
    if n == 0:
        return []
    out = [
        f"Sign of the species difference: rat > treeshrew at the best layers in {k['rat_both']} of {n} "
        f"area × condition comparisons under both protocols (original: {k['rat_original']}, "
        f"corrected: {k['rat_corrected']}); treeshrew > rat under both in {k['treeshrew_both']} "
        f"(original: {k['treeshrew_original']}, corrected: {k['treeshrew_corrected']}); the sign "
        f"differs between the protocols in {k['sign_flips']}.",
    ]
    if k["tested_both"] == n:
        out.append(
            f"Significance (best-layer test, FDR-corrected): significant under both protocols in "
            f"{k['significant_both']} of {n} comparisons (original: {k['significant_original']}, "
            f"corrected: {k['significant_corrected']}); rat > treeshrew and significant under both "
            f"in {k['rat_significant_both']}, treeshrew > rat and significant under both in "
            f"{k['treeshrew_significant_both']}.")
    else:
        missing = [p for p in PROTOCOLS if k[f"tested_{p}"] < n]
        out.append(
            f"Significance cannot be compared in {n - k['tested_both']} of {n} comparisons: no tests "
            f"table for the {' and '.join(missing)} protocol there"
            + (f"; where both were tested ({k['tested_both']}), the difference is significant after FDR "
               f"under both in {k['significant_both']}" if k["tested_both"] else "") + ".")
    out.append(
        f"Best-layer identity: the rat networks' best layer is the same under both protocols in "
        f"{k['same_best_rat']} of {n} comparisons, the treeshrew networks' in "
        f"{k['same_best_treeshrew']}; the best layer's pathway (P1, P2 or shared s1/out) is the same "
        f"in {k['same_pathway_rat']} (rat) and {k['same_pathway_treeshrew']} (treeshrew).")
    out.append(
        f"Approach to the noise ceiling: the higher-scoring species' best layer reaches the lower end "
        f"of the ceiling band (its interval's upper end at or above it) in {k['reach_original']} of "
        f"{n} comparisons under the original protocol and {k['reach_corrected']} under the corrected "
        f"one (both: {k['reach_both']}); best-layer scores are "
        f"{_pct_range(k['ratio_min_original'], k['ratio_max_original'])} of the median ceiling under "
        f"the original protocol and "
        f"{_pct_range(k['ratio_min_corrected'], k['ratio_max_corrected'])} under the corrected one.")
    if k["one_protocol_only"]:
        out.append(f"{k['one_protocol_only']} area × condition comparisons have a table under one "
                   "protocol only and are not counted.")
    return out
