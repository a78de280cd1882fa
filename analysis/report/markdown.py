"""Markdown for the chapters: pipe tables, the data notice, provenance; the stimuli's display labels."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from analysis import config, study


#: Display names of the stimuli (from their :class:`analysis.study.Stimulus` records).
STIMULUS_LABELS: dict[str, str] = {s.name: s.label for s in study.STIMULI.values()}


SYNTHETIC_NOTICE = "synthetic data: nothing here is a finding about mice"


def markdown_table(df: pd.DataFrame, align: Sequence[str] | None = None) -> str:
    """A pandoc/Quarto pipe table of a data frame (values formatted with ``str``)."""
    cols = [str(c) for c in df.columns]
    align = list(align) if align else ["l"] * len(cols)
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def is_synthetic(source: str | None = None, provenance: dict | None = None) -> bool:
    """True when the data are synthetic (by source name or provenance)."""
    if provenance and provenance.get("source"):
        return provenance["source"] != "allen"
    return source != "allen"


def data_notice(source: str) -> str:
    """A callout saying what the data are; a warning banner for synthetic data."""
    if is_synthetic(source):
        return (
            '::: {.callout-warning title="Synthetic data"}\n'
            f"**{SYNTHETIC_NOTICE[0].upper() + SYNTHETIC_NOTICE[1:]}.** The recordings in this build "
            "come from the project's embedded synthetic Brain Observatory, written in the Allen "
            "layout to test the pipeline end to end. Every number and figure below exercises the "
            "analysis; none of them says anything about mouse visual cortex.\n:::\n"
        )
    return (
        '::: {.callout-note title="Data"}\n'
        "The recordings are the Allen Brain Observatory Visual Coding two-photon survey "
        "[@devries2020].\n:::\n"
    )


def provenance_markdown(table: pd.DataFrame, provenance: dict[str, Any], source: str | None = None) -> str:
    """Provenance of one result table as Markdown: banner, data, checkpoints, code, packages."""
    src = provenance.get("source") or source or (str(table["source"].iloc[0]) if len(table) else "")
    parts = [data_notice(src)]
    keys = ["stimulus", "depth", "cre_line", "seed", "protocol", "movie_bin"]
    facts = ", ".join(f"{k.replace('_', ' ')}: `{provenance[k]}`" for k in keys if k in provenance)
    parts.append(f"**Data source:** `{src}`" + (f"; {facts}." if facts else "."))
    areas = provenance.get("areas", {})
    if areas:
        rows = [
            dict(area=a, containers=areas[a].get("n_containers", ""),
                 experiments=areas[a].get("n_experiments", ""), neurons=areas[a].get("n_neurons", ""))
            for a in study.AREAS if a in areas
        ]
        parts.append(markdown_table(pd.DataFrame(rows), align="lrrr"))
    ckpts = provenance.get("checkpoints", {})
    if ckpts:
        listed = "; ".join(f"`{name}` `{str(sha)[:12]}`" for name, sha in sorted(ckpts.items()))
        parts.append(f"**Checkpoints (SHA-256, first 12 hex digits):** {listed}.")
    code = provenance.get("git_commit")
    py = provenance.get("python")
    if code or py:
        parts.append(f"**Code:** git commit `{code or 'unknown'}`; Python `{py or 'unknown'}`.")
    pk = provenance.get("packages", {})
    if pk:
        parts.append("**Packages:** " + ", ".join(f"{k} `{v}`" for k, v in sorted(pk.items())) + ".")
    return "\n\n".join(parts) + "\n"
