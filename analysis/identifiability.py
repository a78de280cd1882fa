"""Can this design tell the networks apart? Planted data at the real survey's size.

The synthetic survey (:mod:`analysis.synthetic`, the ``default`` preset: the real Cux2
containers, cells, session design and the response model calibrated to the published
ceilings) is driven by a known answer and analysed with the pipeline's own functions,
in memory (:mod:`analysis.synthetic.calibrate` simulates exactly the events the files would
hold):

**Layer recovery** (:func:`layer_recovery`). One area and depth (:class:`Design`, default
VISp at 175 um, its 8 containers, natural scenes) is driven in turn by each layer of one
rat- and one treeshrew-trained network and by the pixel baseline
(:func:`analysis.ground_truth.layer_plant`, ``mode="geometry"``: each neuron's drive is the
projection of the layer's activation pattern on a random direction, so the population
keeps the layer's geometry up to the response nonlinearity, the cells sampled and the
noise). Under each protocol the candidates (the same networks' layers and the pixel
baseline) are scored as the pipeline scores them (mean tau-a over the protocol's brain
RDMs) and the best is recorded: a confusion matrix of planted x found.

**Species recovery** (:func:`species_recovery`). The area is driven by a *family* of
networks (``family_layer`` of every rat-trained seed, each seed's patterns normalised and
concatenated), by the treeshrew family, or, as a null, by both families equally. With the
first ``n`` of the area's containers (``Design.containers``) the corrected protocol's paired
bootstrap test at each species' best layer (:func:`analysis.stats.species_tests`: stimuli
and animals resampled, seeds resampled) gives a conclusion at ``alpha``: "rat", "treeshrew"
or none. Power: how often a planted family is concluded; false positives: how often the
null gives any conclusion. Each replicate draws new populations and sessions
(``data_seed + replicate``); the containers of one replicate are nested (the first 2 of
the first 4 of ...).

Every random draw comes from an explicit seed (the data: ``Design.data_seed`` and the
replicate; the analysis: ``Design.seed`` through :func:`analysis.rdm.derive_rng`); results
are cached as tables under ``results/<source>/`` with a JSON of the settings
(:func:`write_identifiability`, ``python -m analysis identifiability``); an up-to-date table
is not recomputed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import study

#: Conclusions of the species test.
CONCLUSIONS: tuple[str, ...] = ("rat", "treeshrew", "none")
#: What drives a population in the species study.
DRIVES: tuple[str, ...] = ("rat", "treeshrew", "null")
#: Version of the study's computation, part of its tables' key: bump it when a change moves
#: their numbers (2: families planted through :func:`compact_geometry`).
STUDY_VERSION: str = "2"


@dataclass(frozen=True)
class Design:
    """Settings of the identifiability study (every field goes into the cache key).

    ``stimulus``, ``area``, ``depth``: the cell simulated (its containers and cells from
    the survey preset ``preset``); ``candidates``: networks whose layers are planted and
    scored (the pixel baseline is planted and scored too); ``protocols``: protocols of the
    layer recovery; ``family_layer`` and ``family_weight``: the layer of every seed that
    drives a family's population and the share of drive variance it gets (the rest is the
    generator's own stimulus model); ``containers``: the numbers of containers of the
    species study; ``replicates``: populations drawn per drive; ``n_boot``: bootstrap draws
    of each species test; ``alpha``: its level; ``cell_fraction``: share of each session's
    cells kept (1 = the real counts; tests use fewer); ``templates``: the stimulus
    templates' preset (``"default"``: full size; ``"small"``: the tests' small ones);
    ``layers``: planted network layers (default all of :data:`analysis.study.LAYERS`).
    """

    stimulus: str = "natural_scenes"
    area: str = "VISp"
    depth: int = 175
    candidates: tuple[str, ...] = ("rat1", "ts1")
    protocols: tuple[str, ...] = ("original", "corrected")
    family_layer: str = "p1_res_block3"
    family_weight: float = 0.5
    containers: tuple[int, ...] = (2, 4, 8)
    replicates: int = 6
    n_boot: int = 100
    alpha: float = 0.05
    cell_fraction: float = 1.0
    preset: str = "default"
    templates: str = "default"
    layers: tuple[str, ...] = study.LAYERS
    data_seed: int = 0
    seed: int = study.SEED
    n_splits: int = 20

    def __post_init__(self) -> None:
        study.get_stimulus(self.stimulus)
        study.validate_choice("area", self.area, study.AREAS)
        study.validate_choices("protocol", list(self.protocols), ("original", "corrected"))
        study.validate_choices("layer", list(self.layers), study.LAYERS)
        study.validate_choice("family layer", self.family_layer, study.LAYERS)
        if not 0 < self.cell_fraction <= 1:
            raise ValueError(f"cell_fraction must be in (0, 1]; got {self.cell_fraction}")
        if self.replicates < 1 or any(int(n) < 1 for n in self.containers):
            raise ValueError(f"replicates and containers must be >= 1; got {self.replicates}, {self.containers}")

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


#: The book's design (the identifiability chapter).
DEFAULT = Design()
#: ``--full``: the full grid of the species study in the same cell: every number of
#: containers from 1 to 8, 20 replicates per drive and 400 bootstrap draws per test (the
#: book's design draws 100: a p-value's Monte Carlo SD at p = 0.05 is then 0.022, and each
#: worker's bootstrap runs on one core, half of the study's time).
FULL = dataclasses.replace(DEFAULT, containers=(1, 2, 3, 4, 5, 6, 7, 8), replicates=20, n_boot=400)


# --------------------------------------------------------------------------------------
# The simulated cell
# --------------------------------------------------------------------------------------


@dataclass
class Context:
    """What every plant of a design shares: templates, feature maps, containers, model RDMs."""

    design: Design
    template: np.ndarray
    maps: Any
    containers: list[Any]
    model: Any
    rdms: dict[str, np.ndarray]  # protocol -> (n_candidates, n_pairs)
    names: list[tuple[str, str]]  # (checkpoint or "pixel", layer) of each candidate row


def _containers(design: Design) -> list[Any]:
    from .synthetic import PRESETS, _container_specs

    pre = PRESETS[design.preset]
    specs = [c for c in _container_specs(pre) if c.area == design.area and c.depth == int(design.depth)
             and not c.failed and c.cre_line == study.CRE_LINE]
    if not specs:
        raise ValueError(f"preset {design.preset!r} has no {study.CRE_LINE} container in {design.area} at "
                         f"{design.depth} um")
    if design.cell_fraction < 1:
        specs = [dataclasses.replace(c, n_cells=max(3, round(c.n_cells * design.cell_fraction)),
                                     session_cells={k: max(3, round(v * design.cell_fraction))
                                                    for k, v in (c.session_cells or {}).items()} or None)
                 for c in specs]
    return specs


def candidate_rdms(template: np.ndarray, stimulus: str, candidates: Sequence[str], protocol) -> np.ndarray:
    """RDMs of the pixel baseline and of every layer of ``candidates`` under ``protocol`` (cached):
    ``(1 + len(candidates) * len(LAYERS), n_pairs)``."""
    from . import checkpoints, pipeline

    clips, key = pipeline.protocol_clips(template, stimulus, protocol)
    return np.concatenate([pipeline.pixel_rdm(clips, key)]
                          + [pipeline.model_rdms(checkpoints.get_entry(c), clips, key) for c in candidates])


def make_context(design: Design, candidates: Sequence[str] | None = None) -> Context:
    """Templates, feature maps, containers and candidate RDMs of ``design``."""
    from . import protocols
    from . import stimuli as stimuli_mod
    from .synthetic import PRESETS
    from .synthetic.build import _templates, feature_maps
    from .synthetic.response_model import load_response_model

    scenes, movie = _templates(PRESETS[design.templates], stimuli_mod)
    template = scenes if not study.get_stimulus(design.stimulus).is_movie else movie
    cands = tuple(candidates if candidates is not None else design.candidates)
    rdms = {p: candidate_rdms(template, design.stimulus, cands, protocols.get_protocol(p)) for p in design.protocols}
    names = [("pixel", study.PIXEL_LAYER)] + [(c, layer) for c in cands for layer in study.LAYERS]
    return Context(design, template, feature_maps(scenes, movie), _containers(design),
                   load_response_model(PRESETS[design.preset].survey), rdms, names)


def plant_features(ctx: Context, checkpoint: str, layer: str) -> np.ndarray:
    """``(items, k)`` features of one candidate on the design's stimulus (the original's clips)."""
    from . import features
    from .ground_truth import STIMULUS_CLIP_FRAMES, layer_features, template_clips
    from .protocols import ORIGINAL

    stim = study.get_stimulus(ctx.design.stimulus)
    if checkpoint == "pixel":
        clips, _ = template_clips(ctx.template, stim.name, keep_aspect=ORIGINAL.keep_aspect,
                                  pad_value=ORIGINAL.pad_value)
        f = features.pixel_features(clips).astype(np.float64)
    else:
        f = layer_features(checkpoint, layer, stim.name, ctx.template, keep_aspect=ORIGINAL.keep_aspect,
                           pad_value=ORIGINAL.pad_value).astype(np.float64)
    return np.repeat(f, STIMULUS_CLIP_FRAMES, axis=0) if stim.is_movie else f


def _unit_rows(f: np.ndarray) -> np.ndarray:
    f = f - f.mean(axis=1, keepdims=True)
    n = np.linalg.norm(f, axis=1, keepdims=True)
    return f / np.where(n > 0, n, 1.0)


def family_features(ctx: Context, species: Sequence[str]) -> np.ndarray:
    """``family_layer`` of every seed of ``species``, each seed's item patterns centred and
    unit-normed, concatenated (so every seed weighs the same in the planted geometry), then
    written in the fewest dimensions with the same geometry (:func:`compact_geometry`):
    ``(items, items + 1)``."""
    from . import checkpoints

    stems = tuple(e.stem for e in checkpoints.select_checkpoints(species=list(species)))
    key = (stems, ctx.design.family_layer, ctx.design.stimulus, ctx.design.templates)
    if key not in _FAMILIES:  # every replicate of a drive plants the same family
        _FAMILIES[key] = compact_geometry(np.concatenate(
            [_unit_rows(plant_features(ctx, s, ctx.design.family_layer)) for s in stems], axis=1))
    return _FAMILIES[key]


def compact_geometry(f: np.ndarray) -> np.ndarray:
    """Item patterns ``(items, k)`` with zero row means, rewritten as ``(items, items + 1)``
    patterns with zero row means and the same inner products (``q @ q.T == f @ f.T`` up to
    rounding).

    The ``geometry`` plant (:func:`analysis.synthetic.neurons.geometry_drive`) centres each
    item over its features, scales it to unit norm and projects it on standard Gaussian
    directions; the drives over neurons are then jointly normal with the items' correlations
    as covariance, whatever the number of features. So these patterns plant populations with
    the same distribution as ``f``, while each container draws ``items + 1`` directions per
    neuron instead of ``k`` (five seeds' layer holds ~10^5 features). The embedding ``basis``
    keeps the rows' means zero (its ``r`` columns are orthonormal and orthogonal to the ones
    vector of ``r + 1``), so the plant's centring leaves them unchanged.
    """
    u, sv, _ = np.linalg.svd(f, full_matrices=False)  # f = u diag(sv) v.T, r = min(items, k) values
    r = sv.size
    basis = np.linalg.qr(np.column_stack([np.ones(r + 1), np.eye(r + 1)[:, :r]]))[0][:, 1:]  # (r + 1, r)
    return (u * sv) @ basis.T


_FAMILIES: dict[tuple, np.ndarray] = {}


def simulate_subjects(ctx: Context, features: np.ndarray, data_seed: int, weight: float,
                      protocols: Sequence[Any], n_containers: int | None = None) -> list[Any]:
    """The area's subjects (:class:`analysis.brain.Subjects`) under each of ``protocols``,
    from one simulation of its sessions (its first ``n_containers``, default all), its
    populations driven by ``features`` (``geometry`` plant, share ``weight`` of the drive)."""
    from . import brain
    from .synthetic import PRESETS, Plant
    from .synthetic.calibrate import cell_data, cell_sessions, cell_subjects

    d = ctx.design
    plant = Plant(area=d.area, features={d.stimulus: features}, weight=weight, mode="geometry")
    specs = ctx.containers[: n_containers or len(ctx.containers)]
    cell = cell_data(PRESETS[d.preset], int(data_seed), d.stimulus, d.area, d.depth, ctx.maps, plant,
                     {d.stimulus: features}, containers=specs)
    sessions = cell_sessions(cell, ctx.model)
    ids = tuple(c.container_id for c in specs)
    return [brain.Subjects(ids, cell_subjects(cell, ctx.model, p, sessions), [], f"identifiability-{data_seed}")
            for p in protocols]


def brain_rdms_of(ctx: Context, subjects: Any, protocol) -> np.ndarray:
    """The protocol's brain RDMs of the simulated area (:func:`analysis.brain.brain_side`)."""
    from . import brain

    from . import rdm

    area = brain.pool_subjects(ctx.design.area, subjects)
    labels = (ctx.design.stimulus, int(ctx.design.depth), ctx.design.area)
    if protocol.brain_rdms == "halves":
        rdms = rdm.brain_rdms(area.responses, study.N_BRAIN_RDMS, rdm.derive_rng(ctx.design.seed, *labels,
                                                                                "brain_rdms"))
    else:
        rdms = np.concatenate([rdm.mean_rdm(t) for t in area.subject_tensors()])
    brain.check_defined(rdms, area.shape[1], labels)
    return rdms  # as brain.brain_side computes them (its ceilings are not needed here)


# --------------------------------------------------------------------------------------
# Layer recovery
# --------------------------------------------------------------------------------------


def _layer_task(job: tuple[Context, int, str, str]) -> list[dict[str, Any]]:
    from . import compare, protocols

    ctx, k, checkpoint, layer = job
    feats = plant_features(ctx, checkpoint, layer)
    rows = []
    specs = [protocols.get_protocol(p) for p in ctx.design.protocols]
    for p, spec, subj in zip(ctx.design.protocols, specs,
                             simulate_subjects(ctx, feats, ctx.design.data_seed, 1.0, specs)):
        scores = compare.tau_a(ctx.rdms[p], brain_rdms_of(ctx, subj, spec)).mean(axis=1)
        best = int(np.argmax(scores))
        rows.append({"protocol": p, "planted_checkpoint": checkpoint, "planted_layer": layer,
                     "found_checkpoint": ctx.names[best][0], "found_layer": ctx.names[best][1],
                     "planted_score": float(scores[k]), "found_score": float(scores[best]),
                     "recovered": best == k})
    return rows


def layer_recovery(ctx: Context, jobs: int | None = None) -> pd.DataFrame:
    """One row per (protocol, planted candidate): the candidate the pipeline ranks best."""
    from .parallel import map_tasks

    todo = [(ctx, k, ck, layer) for k, (ck, layer) in enumerate(ctx.names)
            if ck == "pixel" or layer in ctx.design.layers]
    map_tasks(_warm_features, [(ctx, c, study.LAYERS[0]) for c in ctx.design.candidates], jobs=jobs)
    rows = [r for rs in map_tasks(_layer_task, todo, jobs=jobs) for r in rs]
    return pd.DataFrame(rows)


def confusion(recovery: pd.DataFrame, protocol: str, names: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Counts of found (columns) per planted (rows) candidate, labels ``checkpoint/layer``."""
    labels = [f"{c}/{layer}" if c != "pixel" else "pixel" for c, layer in names]
    r = recovery[recovery["protocol"] == protocol]
    m = pd.DataFrame(0, index=labels, columns=labels)
    for row in r.itertuples(index=False):
        a = "pixel" if row.planted_checkpoint == "pixel" else f"{row.planted_checkpoint}/{row.planted_layer}"
        b = "pixel" if row.found_checkpoint == "pixel" else f"{row.found_checkpoint}/{row.found_layer}"
        m.loc[a, b] += 1
    return m.loc[[lab for lab in labels if m.loc[lab].sum() > 0]]


# --------------------------------------------------------------------------------------
# Species recovery
# --------------------------------------------------------------------------------------


def species_conclusion(ctx: Context, subjects: Any, all_rdms: np.ndarray, species: Sequence[str],
                       rng_labels: Sequence[object]) -> dict[str, Any]:
    """The corrected protocol's paired test at the best layers on ``subjects``: its conclusion."""
    from . import compare, rdm, stats
    from .protocols import CORRECTED

    d = ctx.design
    brain_rdms = brain_rdms_of(ctx, subjects, CORRECTED)
    n_ck, n_layers = len(species), len(study.LAYERS)
    point = compare.tau_a(all_rdms, brain_rdms).mean(axis=1)
    boot = stats.bootstrap_scores(all_rdms, brain_rdms, rdm.derive_rng(d.seed, *rng_labels, "bootstrap"),
                                  n_boot=d.n_boot, nili=False)
    t = stats.species_tests(point.reshape(n_ck, n_layers), boot.draws.reshape(-1, n_ck, n_layers), list(species),
                            study.LAYERS, rdm.derive_rng(d.seed, *rng_labels, "species_tests"))
    best = t[t["test"] == "best_layer"].iloc[0]
    significant = bool(best["p"] < d.alpha)
    conclusion = ("rat" if best["difference"] > 0 else "treeshrew") if significant else "none"
    return {"difference": float(best["difference"]), "ci_low": float(best["ci_low"]),
            "ci_high": float(best["ci_high"]), "p": float(best["p"]), "conclusion": conclusion}


def _warm_features(job: tuple[Context, str, str]) -> None:
    plant_features(*job)


def _species_task(job: tuple[Context, np.ndarray, list[str], str, int]) -> list[dict[str, Any]]:
    from .protocols import CORRECTED

    ctx, all_rdms, species, drive, replicate = job
    d = ctx.design
    groups = {"rat": ["rat"], "treeshrew": ["treeshrew"], "null": ["rat", "treeshrew"]}[drive]
    feats = family_features(ctx, groups)
    data_seed = d.data_seed + 1000 * (1 + DRIVES.index(drive)) + replicate
    full = simulate_subjects(ctx, feats, data_seed, d.family_weight, [CORRECTED],
                             max(int(n) for n in d.containers))[0]
    rows = []
    for n in d.containers:
        n = min(int(n), len(full.cells))
        sub = type(full)(full.container_ids[:n], full.cells[:n], [], full.fingerprint)
        res = species_conclusion(ctx, sub, all_rdms, species, (d.stimulus, int(d.depth), d.area, drive, replicate, n))
        rows.append({"drive": drive, "replicate": replicate, "n_containers": n, "data_seed": data_seed, **res})
    return rows


def species_recovery(ctx: Context, jobs: int | None = None, drives: Sequence[str] = DRIVES) -> pd.DataFrame:
    """One row per (drive, replicate, number of containers): the species test's conclusion."""
    from . import checkpoints, protocols
    from .parallel import map_tasks

    entries = checkpoints.select_checkpoints(species=["rat", "treeshrew"])
    species = [e.species for e in entries]
    all_rdms = candidate_rdms(ctx.template, ctx.design.stimulus, [e.stem for e in entries],
                              protocols.CORRECTED)[1:]  # network layers only, checkpoint-major
    study.validate_choices("drive", list(drives), DRIVES)
    # the families' features, extracted (and cached) once here, not by every worker at once
    map_tasks(_warm_features, [(ctx, e.stem, ctx.design.family_layer) for e in entries], jobs=jobs)
    todo = [(ctx, all_rdms, species, drive, r) for drive in drives for r in range(ctx.design.replicates)]
    return pd.DataFrame([r for rs in map_tasks(_species_task, todo, jobs=jobs) for r in rs])


def binomial_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a proportion ``k / n``."""
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def species_summary(species: pd.DataFrame) -> pd.DataFrame:
    """Per drive and number of containers: share of replicates concluding the planted family
    (``power``; rat and treeshrew drives) or concluding anything (``false_positive``; null),
    with Clopper-Pearson 95 % intervals."""
    rows = []
    for (drive, n), g in species.groupby(["drive", "n_containers"], sort=True):
        hit = (g["conclusion"] != "none") if drive == "null" else (g["conclusion"] == drive)
        k, m = int(hit.sum()), int(len(g))
        lo, hi = binomial_interval(k, m)
        rows.append({"drive": drive, "n_containers": int(n), "replicates": m,
                     "measure": "false_positive" if drive == "null" else "power",
                     "rate": k / m, "ci_low": lo, "ci_high": hi,
                     "wrong_family": int(((g["conclusion"] != "none") & (g["conclusion"] != drive)).sum())
                     if drive != "null" else 0})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# The book's tables
# --------------------------------------------------------------------------------------


def settings_key(design: Design) -> str:
    """Key of the study's tables: the design, :data:`STUDY_VERSION`, the generator's version, the
    response model and the checkpoints' hashes."""
    from . import checkpoints
    from .synthetic import GENERATOR_VERSION
    from .synthetic.response_model import load_response_model
    from .synthetic import PRESETS

    model = load_response_model(PRESETS[design.preset].survey)
    settings = {"design": design.as_dict(), "version": STUDY_VERSION, "generator": GENERATOR_VERSION,
                "model": model.as_rows(),
                "checkpoints": {e.stem: e.sha256 for e in checkpoints.select_checkpoints()}}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def write_identifiability(source: str = "synthetic", design: Design = DEFAULT, *, force: bool = False,
                          jobs: int | None = None, progress: bool = True) -> dict[str, Path]:
    """Run both studies of ``design`` and write their tables (atomically); skip when up to date."""
    from . import fileio, tables

    out = tables.identifiability_paths(source)
    key = settings_key(design)
    if not force and all(p.is_file() for p in out.values()):
        try:
            if json.loads(out["meta"].read_text()).get("key") == key:
                if progress:
                    print(f"identifiability {out['layers'].parent}: up to date")
                return out
        except ValueError:
            pass
    t0 = time.time()
    ctx = make_context(design)
    if progress:
        print(f"identifiability: {len(ctx.names)} candidates planted in {design.area} at {design.depth} um "
              f"({design.stimulus}), {len(ctx.containers)} containers; {len(DRIVES)} drives x "
              f"{design.replicates} replicates", flush=True)
    layers = layer_recovery(ctx, jobs=jobs if jobs is not None else -1)
    t1 = time.time()
    species = species_recovery(ctx, jobs=jobs if jobs is not None else -1)
    t2 = time.time()
    fileio.write_atomic(out["layers"], lambda p: layers.to_csv(p, index=False, float_format="%.12g"))
    fileio.write_atomic(out["species"], lambda p: species.to_csv(p, index=False, float_format="%.12g"))
    meta = {"key": key, "design": design.as_dict(), "n_cells": [int(sum((c.session_cells or {}).values()))
                                                               for c in ctx.containers],
            "seconds": {"layers": round(t1 - t0, 1), "species": round(t2 - t1, 1)}}
    fileio.write_text_atomic(out["meta"], json.dumps(meta, indent=2, sort_keys=True) + "\n")
    if progress:
        print(f"identifiability tables written in {t2 - t0:.0f} s: {out['layers']}, {out['species']}")
    return out
