"""Containers, ids and the JSON records AllenSDK reads (containers, experiments, specimens)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .. import study
from .design import REPORTER, SESSION_TYPES, TTA, Preset, depth_cell_factor


@dataclass
class ContainerSpec:
    index: int
    container_id: int
    cre_line: str
    area: str
    depth: int
    failed: bool
    n_cells: int
    donor: str
    specimen_id: int
    sex: str
    birth: str
    experiment_ids: dict[str, int]
    acquisition: dict[str, str]
    cell_ids: np.ndarray  # (pool,)
    session_cells: dict[str, int] | None = None  # cells imaged per session (survey presets)


def _stable_int(*parts: object) -> int:
    """A 64-bit integer determined by the parts alone (ids that do not move when rows are added)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _container_rows(preset: Preset) -> list[tuple[str, str, int, bool, int]]:
    """(cre line, area, depth, failed, k) of every container of a preset, k = index within its group."""
    rows: list[tuple[str, str, int, bool, int]] = []
    for area in preset.areas:
        for depth in preset.depths:
            n = int(preset.containers.get((area, depth), preset.containers_per_new_depth))
            rows += [(study.CRE_LINE, area, int(depth), False, k) for k in range(n)]
    rows += [(cre, area, int(depth), bool(failed), 0) for cre, area, depth, failed in preset.extra]
    return rows


def _container_specs(preset: Preset) -> list[ContainerSpec]:
    """Containers with ids and metadata that depend only on (cre line, area, depth, failed, k).

    Adding a depth to a preset therefore adds containers without changing the ids,
    and hence the simulated data (seeded by container and experiment id), of the others.
    """
    rows = _container_rows(preset)
    specs = []
    used_cells: set[int] = set()
    used_ids: set[int] = {study.TEMPLATE_EXPERIMENT_ID}
    for i, (cre, area, depth, failed, k) in enumerate(rows):
        key = (cre, area, depth, failed, k)

        def unique(base: int, span: int, *tag: object) -> int:
            value = base + _stable_int(*key, *tag) % span
            while value in used_ids:  # deterministic probing on the (rare) collision
                value += 1
            used_ids.add(value)
            return value

        cid = unique(511_000_000, 88_000_000, "container")
        exp = {st: unique(501_000_000, 198_000_000, "experiment", st) for st in SESSION_TYPES}
        if key == (study.CRE_LINE, preset.areas[0], preset.depths[0], False, 0):
            # the template experiment: session B of the first container
            exp["three_session_B"] = study.TEMPLATE_EXPERIMENT_ID
        rng = np.random.default_rng(_stable_int(*key, "metadata") % (1 << 63))
        session_cells = None
        if preset.survey is not None and not failed and cre == study.CRE_LINE:
            from .survey import load_survey
            rows_here = load_survey(preset.survey).cells.get((area, int(depth)), ())
            session_cells = ({st: max(3, int(round(v * preset.cell_fraction))) for st, v in rows_here[k].items()}
                             if k < len(rows_here) else None)
        if session_cells is not None:
            ncell = int(session_cells["three_session_B"])
            pool = int(round(max(session_cells.values()) * 1.15))
        else:
            ncell = int(round(preset.cells[area] * depth_cell_factor(depth)))
            pool = int(round(ncell * 1.15))
        bucket = _stable_int(*key, "cells") % 100_000
        while bucket in used_cells:
            bucket = (bucket + 1) % 100_000
        used_cells.add(bucket)
        cell_ids = 517_000_000 + bucket * 10_000 + np.sort(rng.choice(np.arange(1, 20 * pool), size=pool, replace=False))
        y = int(rng.integers(2015, 2017))
        mo = int(rng.integers(1, 13))
        day = int(rng.integers(1, 22))
        birth = f"{y}-{mo:02d}-{day:02d}"
        age = int(rng.integers(85, 115))
        acq0 = np.datetime64(birth) + np.timedelta64(age, "D")
        acq = {}
        for k, st in enumerate(SESSION_TYPES):
            d = acq0 + np.timedelta64(int(k * rng.integers(1, 4)) + k, "D")
            hh, mm, ss = int(rng.integers(9, 17)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
            acq[st] = f"{d}T{hh:02d}:{mm:02d}:{ss:02d}Z"
        specs.append(
            ContainerSpec(
                index=i, container_id=int(cid), cre_line=cre, area=area, depth=int(depth),
                failed=bool(failed), n_cells=int(ncell), donor=str(int(rng.integers(200_000, 340_000))),
                specimen_id=int(rng.integers(490_000_000, 560_000_000)),
                sex=str(rng.choice(["male", "female"])), birth=birth, experiment_ids=exp,
                acquisition=acq, cell_ids=cell_ids.astype(np.int64), session_cells=session_cells,
            )
        )
    return specs


_AREA_NAMES = {
    "VISp": (385, "Primary visual area"),
    "VISl": (409, "Lateral visual area"),
    "VISal": (402, "Anterolateral visual area"),
    "VISpm": (533, "posteromedial visual area"),
    "VISam": (394, "Anteromedial visual area"),
}


def _transgenic_lines(cre: str) -> list[dict]:
    lines = [{"name": cre, "transgenic_line_type_name": "driver"}]
    if cre.startswith("Cux2"):
        lines.append({"name": TTA, "transgenic_line_type_name": "driver"})
    lines.append({"name": REPORTER, "transgenic_line_type_name": "reporter"})
    return lines


def _genotype(cre: str) -> str:
    parts = [f"{cre}/wt"]
    if cre.startswith("Cux2"):
        parts.append(f"{TTA}/wt")
    parts.append(f"{REPORTER}/{REPORTER}")
    return ";".join(parts)


def _specimen(c: ContainerSpec) -> dict:
    name = f"{c.cre_line};{TTA if c.cre_line.startswith('Cux2') else ''};Ai93-{c.donor}".replace(";;", ";")
    return {
        "id": c.specimen_id,
        "name": name,
        "donor": {
            "external_donor_name": c.donor,
            "date_of_birth": c.birth + "T00:00:00Z",
            "sex": c.sex,
            "conditions": [],
            "transgenic_lines": _transgenic_lines(c.cre_line),
        },
    }


def _structure(area: str) -> dict:
    sid, name = _AREA_NAMES[area]
    return {"acronym": area, "id": sid, "name": name}


def _container_record(c: ContainerSpec) -> dict:
    return {
        "id": c.container_id,
        "imaging_depth": c.depth,
        "targeted_structure": _structure(c.area),
        "failed": c.failed,
        "specimen": _specimen(c),
        "isi_experiment_id": c.container_id - 7,
        "ophys_experiments": [
            {"id": c.experiment_ids[st], "stimulus_name": st} for st in SESSION_TYPES
        ],
        "source": "synthetic",
    }


def _experiment_record(c: ContainerSpec, st: str) -> dict:
    return {
        "id": c.experiment_ids[st],
        "imaging_depth": c.depth,
        "targeted_structure": _structure(c.area),
        "specimen": _specimen(c),
        "date_of_acquisition": c.acquisition[st],
        "experiment_container_id": c.container_id,
        "experiment_container": {"id": c.container_id, "failed": c.failed},
        "stimulus_name": st,
        "source": "synthetic",
    }
