"""One stimulus x depth under one protocol, end to end: recordings and networks -> tidy tables.

The straight line of the study::

    recordings -> response tensors -> brain RDMs, noise ceilings   (per area)
    stimuli    -> clips -> network features -> model RDMs          (per checkpoint, layer)
    model RDMs x brain RDMs -> tau-a scores -> bootstrap intervals, species tests
               -> tidy tables + provenance

The brain side is :mod:`analysis.brain`; every choice of a protocol is read from its
settings (:mod:`analysis.protocols`), never from its name. The two defined protocols:

* ``original`` (faithful to the original study): every session's neurons pooled per
  area (a cell imaged in several sessions counts once per session); the brain RDMs are
  ``n_brain_rdms`` RDMs of random half-trial means and a model's ``score`` is its mean
  tau-a over them (``score_sd``: SD over them); the ``noise_ceiling`` row is the median
  (and SD) of the raw split-half tau-a.
* ``corrected``: experiment containers are the subjects (cells matched by
  cell_specimen_id and counted once, missing presentations NaN, stated latency and
  window, optional reliability filter); each container's all-trial RDM is a brain RDM and
  a model's ``score`` is its mean tau-a over the containers (``score_sd``: SD over
  containers), as in rsatoolbox's subject-level RSA; the ``noise_ceiling`` row is, per
  split, the mean over containers of the Spearman-Brown-corrected split-half ceiling and
  the ``nili_lower``/``nili_upper`` rows are the Nili bounds across the containers' RDMs,
  which bound exactly this mean-over-containers score. Stimuli are resized keeping their
  aspect ratio.

Inference (both protocols; ``n_boot`` draws, 0 = off): ``ci_low``/``ci_high`` are the
95 % percentile bootstrap interval of every model and baseline score, resampling
stimuli and experiment containers (animals) together; generator
``rdm.derive_rng(seed, stimulus, depth, area, "bootstrap")``. Corrected protocol:
:func:`analysis.stats.bootstrap_scores` (the mean over the drawn containers' RDMs on the
drawn stimuli). Original protocol: the score is against the RDM of the area's cells
*pooled* over containers, so resampling containers means pooling the cells of the drawn
containers and recomputing that RDM (:func:`analysis.stats.bootstrap_pooled_scores`; a
container drawn twice contributes its cells twice); each draw uses one of the
``n_brain_rdms`` trial halves at random (the score is their mean), so the interval also
carries the half-to-half spread, i.e. it is slightly conservative. With one container in
an area only the stimuli vary. Noise-ceiling and
Nili rows have no interval (NaN). The paired rat-vs-treeshrew tests
(:func:`analysis.stats.species_tests`: per layer and at each species' best layer,
resampling seeds as well; generator ``derive_rng(seed, stimulus, depth, area,
"species_tests")``) reuse the same draws, FDR-corrected over the whole tests table
(:func:`analysis.stats.add_fdr`).

:func:`run` writes, atomically, ``tables.results_path(source, stimulus, depth,
protocol=...)`` (``results/<source>/<stimulus>_<depth>.csv`` for the original,
``..._corrected.csv`` for the corrected protocol: one row per area x checkpoint x layer,
a pixel-baseline row and the ceiling rows per area; columns :data:`analysis.tables.COLUMNS`), the tests
table (``kind="tests"``, columns :data:`analysis.tables.TEST_COLUMNS`; not written, and a stale one
removed, when inference is off or only one species is scored) and a provenance JSON
beside the scores. Expensive steps are cached on disk (:mod:`analysis.cache`) under
keys derived from file contents, parameters, the protocol and code versions, so a
second identical run is fast and bit-identical.

What each cached step depends on (a changed parameter recomputes only its dependants):

* ``responses``: one entry per session at full resolution: the experiment's file
  contents, the stimulus record's counts and the protocol's response settings (window,
  latency, missing presentations); binning and merging sessions into subjects happen
  after loading (see :mod:`analysis.brain`);
* ``brain_rdms`` (and noise ceilings, Nili bounds): the responses' fingerprint (session
  keys, subject settings, movie_bin), the protocol's brain settings, seed, n_splits,
  n_brain_rdms (trial halves only), labels (not checkpoints);
* ``brain_rdms`` entries with ``step: bootstrap``: the bootstrap draws of an area,
  keyed on the responses' fingerprint, brain settings, seed, n_boot, n_brain_rdms and a
  hash of the model RDMs scored;
* ``scores``: the tau-a matrix of every model RDM with every brain RDM of an area,
  keyed on the brain RDMs' key and a hash of the model RDMs (so a warm run does not
  rescore, the bulk of the time at 900 conditions);
* ``stimuli``: the 64x64 frames, keyed on the template's content hash and the protocol's
  clip settings (``keep_aspect``, pad value);
* ``features``: checkpoint SHA-256, clips, layers - for the clip-averaged protocol only
  (per-frame features, ~0.9 GB per checkpoint, are not cached);
* ``model_rdms``: checkpoint SHA-256, clips (hence the resizing), layers, movie_bin when
  not 15 (not seed, areas, depth).

Independent work (areas, checkpoints, per-area scores and bootstrap) goes through
:func:`analysis.parallel.map_tasks`: serial by default, local processes with
``jobs > 1``, a Dask cluster with a scheduler address; the tables are identical.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np
import pandas as pd

from . import allen, brain, cache, checkpoints, compare, features, parallel, protocols, rdm, stats, study, tables
from .brain import AreaData, BrainSide, area_rdms, area_responses  # noqa: F401  (the brain side)

log = logging.getLogger(__name__)

#: Default number of bootstrap draws (``0`` turns inference off).
N_BOOT: int = study.N_BOOT
#: Above this many conditions (per-frame movie: 900) inference is off unless ``n_boot`` is
#: given: each draw re-scores every model at O(m log m) per pair with m = n(n-1)/2
#: condition pairs, ~1000x the work of one run at 900 conditions.
MAX_AUTO_BOOT_CONDITIONS: int = 200
#: Level of the bootstrap intervals.
CI_LEVEL: float = 0.95
#: Memory one worker of a run may need (bytes): one area's responses and brain RDMs (at 900
#: conditions, 100 RDMs of 404,550 pairs are 0.3 GB) with the model RDMs and bootstrap
#: draws; the default number of workers is every core but one per this much free memory.
WORKER_BYTES: int = 5 * 2**29


def default_n_boot(stimulus: str, movie_bin: int) -> int:
    """Bootstrap draws when none are asked for: :data:`N_BOOT`, or 0 above
    :data:`MAX_AUTO_BOOT_CONDITIONS` conditions (e.g. ``--movie-bin 1``)."""
    n = study.get_stimulus(stimulus).n_conditions(movie_bin)
    return N_BOOT if n <= MAX_AUTO_BOOT_CONDITIONS else 0


@dataclass(frozen=True)
class RunConfig:
    """Parameters of one run (validated on construction).

    ``protocol``: a name in :data:`analysis.protocols.PROTOCOLS`. ``movie_bin`` is the
    number of movie frames averaged into one condition (15 in the original: 60 conditions
    of 0.5 s for Natural Movie One; ignored for static stimuli). ``n_brain_rdms`` and
    ``n_splits`` are the numbers of half-trial brain RDMs (protocols scoring against trial
    halves) and of split-half noise-ceiling draws. ``n_boot``: bootstrap draws of the
    intervals and tests (0 = no inference: NaN intervals, no tests table; ``None``:
    :func:`default_n_boot`, i.e. 1000, or 0 above 200 conditions such as the per-frame movie).
    """

    stimulus: str
    depth: int
    source: str = "synthetic"
    cre_line: str = study.CRE_LINE
    areas: tuple[str, ...] = study.AREAS
    seed: int = study.SEED
    protocol: str = protocols.DEFAULT_PROTOCOLS[0]
    movie_bin: int = study.CLIP_LEN
    n_brain_rdms: int = study.N_BRAIN_RDMS
    n_splits: int = study.N_SPLITS
    checkpoint_names: tuple[str, ...] | None = None
    download: bool = False
    n_boot: int | None = None

    def __post_init__(self) -> None:
        stim = study.get_stimulus(self.stimulus)
        study.validate_choice("source", self.source, study.SOURCES)
        study.validate_choice("cre line", self.cre_line, study.CRE_LINES)
        for a in self.areas:
            study.validate_choice("area", a, study.AREAS)
        study.unique("areas", list(self.areas))
        protocols.get_protocol(self.protocol)
        if not isinstance(self.depth, (int, np.integer)) or isinstance(self.depth, bool) or self.depth <= 0:
            raise ValueError(f"depth must be a positive integer (um); got {self.depth!r}")
        study.check_depth(int(self.depth), self.source)
        if isinstance(self.movie_bin, bool) or not isinstance(self.movie_bin, (int, np.integer)):
            raise ValueError(f"movie_bin must be an integer; got {self.movie_bin!r}")
        stim.check_bin(self.movie_bin)
        for name in ("n_brain_rdms", "n_splits"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.n_boot is None:  # frozen: resolve the default once, here
            object.__setattr__(self, "n_boot", default_n_boot(self.stimulus, self.movie_bin))
        if not isinstance(self.n_boot, (int, np.integer)) or isinstance(self.n_boot, bool) or self.n_boot < 0:
            raise ValueError(f"n_boot must be an integer >= 0 (0 = no inference); got {self.n_boot!r}")

    @property
    def spec(self) -> protocols.Protocol:
        """The :class:`analysis.protocols.Protocol` named by ``protocol``."""
        return protocols.get_protocol(self.protocol)

    @property
    def stim(self) -> study.Stimulus:
        """The :class:`analysis.study.Stimulus` named by ``stimulus``."""
        return study.get_stimulus(self.stimulus)

    @property
    def labels(self) -> tuple[str, int]:
        """``(stimulus, depth)``: the first labels of every derived generator."""
        return self.stimulus, int(self.depth)


def movie_bin_of(cfg: RunConfig) -> int | None:
    """Frames per movie condition, ``None`` for static stimuli or one clip (the original 15)."""
    if not cfg.stim.is_movie or cfg.movie_bin == features.CLIP_LEN:
        return None
    return int(cfg.movie_bin)


# --------------------------------------------------------------------------------------
# Scores and inference
# --------------------------------------------------------------------------------------


def area_scores(brain: BrainSide, stacked: np.ndarray, models_key: str) -> rdm.Scores:
    """tau-a of every model RDM ``stacked`` ``(n_models, n_pairs)`` with every brain RDM (cached).

    One :func:`analysis.compare.tau_a` call, so each brain RDM is ranked once for all
    models (exact integer counts: identical to separate calls). Keyed on the brain RDMs'
    cache key and ``models_key`` (:func:`analysis.cache.hash_array` of ``stacked``): at 900
    conditions this is most of a run's time (70,500 pairs of 404,550 entries).
    """
    parts = {"brain_rdms": brain.key, "models": models_key}
    values = cache.get_or_compute("scores", parts, lambda: {"tau_a": compare.tau_a(stacked, brain.rdms)})
    return rdm.scores_of(values["tau_a"])


def area_bootstrap(cfg: RunConfig, area: AreaData, stacked: np.ndarray, point: np.ndarray,
                   brain: BrainSide, models_key: str) -> np.ndarray | None:
    """Bootstrap draws ``(n_boot, n_models)`` of the scores ``point`` of ``stacked`` model RDMs (cached).

    ``None`` when ``cfg.n_boot == 0``. See the module docstring for what is resampled.
    Scored against one RDM per container (``brain_rdms="all_trials"``):
    :func:`analysis.stats.bootstrap_scores` of the mean over the containers' RDMs
    ``brain.rdms`` (stimuli and containers resampled). Against trial halves of the pooled
    cells (``"halves"``): the halves are those of the brain RDMs (same generator), so each
    draw's brain RDM is one of the scored ones, pooled over the drawn containers.
    """
    if cfg.n_boot == 0:
        return None
    spec = cfg.spec
    labels = (*cfg.labels, area.area)
    parts: dict[str, Any] = {
        "step": "bootstrap", "responses": area.fingerprint, "brain": spec.brain_settings(), "seed": cfg.seed,
        "n_boot": int(cfg.n_boot), "labels": list(labels), "models": models_key,
    }
    pooled = spec.brain_rdms == "halves"
    if pooled:
        parts["n_brain_rdms"] = cfg.n_brain_rdms

    def compute() -> dict[str, np.ndarray]:
        rng = rdm.derive_rng(cfg.seed, *labels, "bootstrap")
        if not pooled:
            return {"draws": stats.bootstrap_scores(stacked, brain.rdms, rng, n_boot=cfg.n_boot, nili=False).draws}
        halves = rdm.half_splits(area.shape[0], cfg.n_brain_rdms, rdm.derive_rng(cfg.seed, *labels, "brain_rdms"))
        boot = stats.bootstrap_pooled_scores(stacked, point, lambda h: area.subject_patterns(halves[h]),
                                             len(area.subjects), rng, n_boot=cfg.n_boot, n_sets=len(halves))
        return {"draws": boot.draws}

    return cache.get_or_compute("brain_rdms", parts, compute)["draws"]


# --------------------------------------------------------------------------------------
# Network side
# --------------------------------------------------------------------------------------


def protocol_clips(template: np.ndarray, stimulus: str, spec: protocols.Protocol) -> tuple[Any, str]:
    """Clips of ``template`` resized as ``spec`` says, and their content key (64x64 frames cached).

    The protocol's :meth:`~analysis.protocols.Protocol.clip_settings` (``keep_aspect`` pads
    instead of squashing) are part of the key (:func:`analysis.features.clips_cache_key`),
    so protocols that resize differently never share frames, features or model RDMs.
    """
    opts = spec.clip_settings()
    key = features.clips_cache_key(template, stimulus, **opts)
    movie = study.get_stimulus(stimulus).is_movie

    def compute() -> dict[str, np.ndarray]:  # resizing 918x1174 images is slow: cache the 64x64 frames
        clips = features.make_clips(template, stimulus, **opts)
        frames = clips[:, 0].flatten(0, 1) if movie else clips[:, 0, 0]
        return {"frames": frames.numpy()}

    frames = cache.get_or_compute("stimuli", {"clips_key": key}, compute)["frames"]
    return features.clips_from_frames(frames, stimulus), key


def stimulus_clips(boc: Any, cfg: RunConfig) -> tuple[Any, str]:
    """Clips of the stimulus template under the run's protocol and a content key for them."""
    return protocol_clips(allen.load_template(boc, cfg.stimulus), cfg.stimulus, cfg.spec)


def model_rdms(entry: checkpoints.CheckpointEntry, clips: Any, clips_key: str,
               movie_bin: int | None = None) -> np.ndarray:
    """RDMs ``(len(LAYERS), n_pairs)`` of every layer of one checkpoint (cached).

    ``movie_bin``: ``None`` = one condition per clip (scenes; the movie's original
    protocol); otherwise frames per movie condition (see :mod:`analysis.features`).
    Per-frame features are not cached (~0.9 GB per checkpoint at ``movie_bin=1``); the
    RDMs are computed layer by layer, each layer's features freed after its RDM, with
    :func:`analysis.compare.correlation_rdms` (rsatoolbox's formula with a BLAS product).
    """
    parts: dict[str, Any] = {"checkpoint": entry.sha256, "clips": clips_key, "layers": list(study.LAYERS)}
    if movie_bin is not None:
        parts["movie_bin"] = int(movie_bin)

    def compute() -> dict[str, np.ndarray]:
        feats = features.checkpoint_features(entry, clips, clips_key, movie_bin=movie_bin,
                                             use_cache=movie_bin is None)
        out = []
        for layer in study.LAYERS:
            out.append(compare.correlation_rdms(feats.pop(layer)))  # free each layer once used
        return {"rdms": np.concatenate(out)}

    return cache.get_or_compute("model_rdms", parts, compute)["rdms"]


def pixel_rdm(clips: Any, clips_key: str, movie_bin: int | None = None) -> np.ndarray:
    """RDM ``(1, n_pairs)`` of the pixel baseline."""
    parts: dict[str, Any] = {"pixel": clips_key}
    if movie_bin is not None:
        parts["movie_bin"] = int(movie_bin)
    return cache.get_or_compute(
        "model_rdms", parts, lambda: {"rdms": compare.correlation_rdms(features.pixel_features(clips, movie_bin))}
    )["rdms"]



# --------------------------------------------------------------------------------------
# Tasks (module level, so that they pickle for joblib workers and Dask)
# --------------------------------------------------------------------------------------


def _model_task(job: tuple[checkpoints.CheckpointEntry, Any, str, int | None]) -> np.ndarray:
    entry, clips, clips_key, movie_bin = job
    return model_rdms(entry, clips, clips_key, movie_bin)


class AreaResult(NamedTuple):
    """What one area contributes: its (slim) data, table rows and tests rows (before FDR)."""

    area: AreaData
    rows: list[dict[str, Any]]
    tests: list[dict[str, Any]]
    ceilings: list[dict[str, Any]]


def _area_score_task(job: tuple) -> AreaResult:
    """One area end to end: responses, brain RDMs, ceilings, scores, bootstrap and species tests.

    Only one area's brain RDMs and responses are in memory at a time (1.6 GB for five
    areas at 900 conditions); the responses are dropped before the result is returned.
    """
    cfg, area_name, models, data_source, stacked, models_key = job
    boc = allen.open_cache(cfg.source, download=cfg.download)
    area = area_responses(boc, cfg, area_name)
    brain = area_rdms(area, cfg)
    sc = area_scores(brain, stacked, models_key)
    draws = area_bootstrap(cfg, area, stacked, sc.mean, brain, models_key)
    rows = score_rows(cfg, area, brain, sc, draws, models, data_source)
    tests = species_test_rows(cfg, area_name, models, sc.mean, draws)
    return AreaResult(area.slim(), rows, tests, ceiling_rows(cfg, area_name, brain, data_source))


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------


def score_rows(
    cfg: RunConfig,
    area: AreaData,
    brain: BrainSide,
    scores: rdm.Scores,
    draws: np.ndarray | None,
    models: dict[str, tuple[checkpoints.CheckpointEntry, np.ndarray]],
    data_source: str,
) -> list[dict[str, Any]]:
    """Rows of the tidy table for one area (ceiling rows, baseline, every model layer).

    ``scores``: of the pixel RDM then every model's layers (the order of ``models``);
    ``draws`` ``(n_boot, n_models)`` their bootstrap draws (``None``: no intervals).
    ``data_source`` is what the cache's provenance says it holds ("synthetic" or
    "allen"), which is what the table reports whatever source was asked for.
    """
    base = {
        "source": data_source, "stimulus": cfg.stimulus, "depth": int(cfg.depth),
        "cre_line": cfg.cre_line, "area": area.area, "n_conditions": area.shape[1],
        "n_neurons": area.shape[2], "n_experiments": len(area.experiments), "protocol": cfg.protocol,
    }
    empty = {"species": "", "seed": None, "checkpoint": "", "layer": "", "pathway": "",
             "ci_low": np.nan, "ci_high": np.nan}
    rows = [{**base, **empty, "row_type": "noise_ceiling", "score": float(np.median(brain.ceiling)),
             "score_sd": float(np.std(brain.ceiling))}]
    if np.isfinite(brain.nili[:2]).all():  # only protocols with nili_bounds compute them
        for i, kind in enumerate(("nili_lower", "nili_upper")):
            rows.append({**base, **empty, "row_type": kind, "score": float(brain.nili[i]),
                         "score_sd": float(brain.nili[2 + i])})
    if draws is None:
        lo = hi = np.full(scores.mean.size, np.nan)
    else:
        lo, hi = stats.percentile_ci(draws, CI_LEVEL)

    def scored(i: int) -> dict[str, float]:  # score_sd: over half-trial RDMs / over containers
        return {"score": float(scores.mean[i]), "score_sd": float(scores.sd[i]),
                "ci_low": float(lo[i]), "ci_high": float(hi[i])}

    rows.append({**base, **empty, "row_type": "baseline", "layer": study.PIXEL_LAYER, "pathway": "pixel",
                 **scored(0)})
    row = 1
    for name, (entry, layer_rdms) in models.items():
        for i, layer in enumerate(study.LAYERS):
            rows.append({**base, "row_type": "model", "species": entry.species, "seed": int(entry.seed),
                         "checkpoint": name, "layer": layer, "pathway": study.layer_pathway(layer),
                         **scored(row + i)})
        row += len(layer_rdms)
    return rows


def ceiling_rows(cfg: RunConfig, area: str, brain: BrainSide, data_source: str) -> list[dict[str, Any]]:
    """Rows of the ceilings table of one area: every estimator's median and SD over the same splits."""
    return [{"source": data_source, "stimulus": cfg.stimulus, "depth": int(cfg.depth), "area": area,
             "protocol": cfg.protocol, "estimator": name, "median": float(np.median(draws)),
             "sd": float(np.std(draws)), "n_splits": int(draws.size), "used": name == cfg.spec.ceiling}
            for name, draws in brain.ceilings.items()]


def species_test_rows(cfg: RunConfig, area: str, models: dict[str, tuple[checkpoints.CheckpointEntry, np.ndarray]],
                      point: np.ndarray, draws: np.ndarray | None) -> list[dict[str, Any]]:
    """Rat-vs-treeshrew tests of one area (:func:`analysis.stats.species_tests`), no FDR yet.

    ``point`` ``(1 + n_checkpoints * n_layers,)`` and ``draws`` ``(n_boot, same)``: the
    pixel baseline first, then every checkpoint's layers. Empty when there are no draws
    or not both species.
    """
    species = [entry.species for entry, _ in models.values()]
    if draws is None or not {"rat", "treeshrew"} <= set(species):
        return []
    n_ck, n_layers = len(models), len(study.LAYERS)
    t = stats.species_tests(point[1:].reshape(n_ck, n_layers), draws[:, 1:].reshape(-1, n_ck, n_layers),
                            species, study.LAYERS, rdm.derive_rng(cfg.seed, *cfg.labels, area, "species_tests"),
                            level=CI_LEVEL)
    t.insert(0, "area", area)
    return t.to_dict("records")


def tests_table(rows: list[dict[str, Any]], cfg: RunConfig, data_source: str) -> pd.DataFrame | None:
    """The tests table of one run (:data:`analysis.tables.TEST_COLUMNS`; BH-FDR over all its rows), or None."""
    if not rows:
        return None
    t = stats.add_fdr(pd.DataFrame(rows))
    t["stimulus"], t["depth"], t["protocol"], t["source"] = cfg.stimulus, int(cfg.depth), cfg.protocol, data_source
    return t[list(tables.TEST_COLUMNS)]


def provenance(cfg: RunConfig, areas: Sequence[AreaData], entries: Sequence[checkpoints.CheckpointEntry], data_source: str) -> dict[str, Any]:
    """Everything needed to know where a table came from."""
    return {
        "source": data_source,
        "stimulus": cfg.stimulus,
        "depth": int(cfg.depth),
        "cre_line": cfg.cre_line,
        "seed": cfg.seed,
        "protocol": cfg.protocol,
        "protocol_settings": cfg.spec.as_dict(),
        "movie_bin": cfg.movie_bin,
        "n_brain_rdms": cfg.n_brain_rdms,
        "n_splits": cfg.n_splits,
        "n_boot": int(cfg.n_boot),
        "ci_level": CI_LEVEL,
        "areas": {
            a.area: {
                "n_containers": len({e.container_id for e in a.experiments}),
                "n_experiments": len(a.experiments),
                "n_neurons": int(a.shape[2]),
                "n_trials": int(a.shape[0]),
                "n_conditions": int(a.shape[1]),
                "container_ids": sorted({int(e.container_id) for e in a.experiments}),
                "experiment_ids": [int(e.experiment_id) for e in a.experiments],
                "session_types": [e.session_type for e in a.experiments],
            }
            for a in areas
        },
        "checkpoints": {e.stem: e.sha256 for e in entries},
        **tables.environment_provenance(),
    }


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


class RunResult(NamedTuple):
    """``table`` (:data:`COLUMNS`), ``tests`` (:data:`TEST_COLUMNS`, or None) and ``provenance``."""

    table: pd.DataFrame
    tests: pd.DataFrame | None
    provenance: dict[str, Any]
    ceilings: pd.DataFrame | None = None


def compute_tables(cfg: RunConfig, progress: bool = True, jobs: int | None = None,
                   dask: str | None = None) -> RunResult:
    """Compute the tidy table, the tests table and the provenance of one run (no files but caches).

    ``jobs`` local workers (``-1`` = all cores) or a Dask scheduler address ``dask``
    (default ``$RSA_DASK_SCHEDULER``) run the independent work in parallel: checkpoints
    (features, model RDMs), then areas (responses, brain RDMs, noise ceiling, scores,
    bootstrap, tests; one area's brain RDMs in memory per worker). The results do not
    depend on either.
    """
    boc = allen.open_cache(cfg.source, download=cfg.download)
    data_source = allen.cache_source(boc)
    if data_source != cfg.source:
        log.warning("the %s cache holds %s data; the table will say so", cfg.source, data_source)
    entries = checkpoints.select_checkpoints(names=cfg.checkpoint_names)
    # fail early, before any heavy work, on a missing or tampered file (missing ones are
    # downloaded unless RSA_OFFLINE=1; offline, one error names all of them)
    checkpoints.locate_all(entries)
    for a in cfg.areas:  # fail early on an area x depth without experiments, or a damaged file
        for e in allen.select_experiments(boc, cfg.stimulus, a, int(cfg.depth), cfg.cre_line):
            allen.check_experiment_files(boc, e.experiment_id)

    def say(what: str) -> None:
        if progress:
            print(what, file=sys.stderr, flush=True)

    with parallel.parallel_backend(jobs, dask) as (n_jobs, address):
        where = f"Dask at {address}" if address else f"{n_jobs} local worker(s)"
        clips, clips_key = stimulus_clips(boc, cfg)
        movie_bin = movie_bin_of(cfg)
        say(f"{cfg.protocol} protocol: model RDMs of {len(entries)} checkpoints ({where})")
        rdms = parallel.map_tasks(_model_task, [(e, clips, clips_key, movie_bin) for e in entries])
        pixel = pixel_rdm(clips, clips_key, movie_bin)
        del clips
        # one array of every model RDM (pixel first); the per-checkpoint entries are views of it
        stacked = np.concatenate([pixel] + rdms)
        del rdms
        models, row = {}, 1
        for e in entries:
            models[e.stem] = (e, stacked[row:row + len(study.LAYERS)])
            row += len(study.LAYERS)

        inference = f", {cfg.n_boot} bootstrap draws" if cfg.n_boot else ""
        say(f"responses, brain RDMs, noise ceilings and scores{inference} of {len(cfg.areas)} areas ({where})")
        models_key = cache.hash_array(stacked)
        done = parallel.map_tasks(_area_score_task,
                                  [(cfg, a, models, data_source, stacked, models_key) for a in cfg.areas])
    areas = [d.area for d in done]
    table = tables.to_table([r for d in done for r in d.rows])
    tests = tests_table([r for d in done for r in d.tests], cfg, data_source)
    ceilings = pd.DataFrame([r for d in done for r in d.ceilings], columns=list(tables.CEILING_COLUMNS))
    return RunResult(table, tests, provenance(cfg, areas, entries, data_source), ceilings)


def compute_table(cfg: RunConfig, progress: bool = True, jobs: int | None = None,
                  dask: str | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``(table, provenance)`` of :func:`compute_tables` (without the tests table)."""
    res = compute_tables(cfg, progress=progress, jobs=jobs, dask=dask)
    return res.table, res.provenance


def output_paths(cfg: RunConfig) -> tuple[Path, Path, Path]:
    """Where :func:`run` writes: ``(scores CSV, tests CSV, provenance JSON)``."""
    return tables.run_paths(cfg.source, cfg.stimulus, int(cfg.depth), cfg.protocol)


#: Science source files whose text enters a run's key (the book's code does not change a table).
_KEY_EXCLUDED_DIRS: tuple[str, ...] = ("report", "bookbuild")


def science_digest() -> str:
    """SHA-256 over the text of the package's science modules (all of ``analysis/`` but the
    book's ``report/`` and ``bookbuild/``): any edit of the code that computes a table
    changes a run's key, whether or not a cache version was bumped."""
    import hashlib

    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root)
        if rel.parts[0] in _KEY_EXCLUDED_DIRS:
            continue
        h.update(f"{rel.as_posix()}\n".encode() + f.read_bytes() + b"\0")
    return h.hexdigest()


def run_key(cfg: RunConfig) -> str:
    """Key of everything one run's tables depend on: its settings and protocol, the content of
    every experiment file it reads (and the template's), the checkpoints' hashes, the science
    code (:func:`science_digest`), the cache versions and the package versions. Cheap next to
    the run: the files are hashed once per process (:func:`analysis.cache.file_digest`)."""
    import dataclasses
    import hashlib
    import json

    boc = allen.open_cache(cfg.source, download=cfg.download)
    experiments = {a: [(int(e.experiment_id), allen.experiment_fingerprint(boc, e.experiment_id))
                       for e in allen.select_experiments(boc, cfg.stimulus, a, int(cfg.depth), cfg.cre_line)]
                   for a in cfg.areas}
    template = allen.template_experiment(boc, cfg.stimulus)
    parts = {"config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "download"},
             "n_boot": int(cfg.n_boot), "protocol": cfg.spec.as_dict(), "experiments": experiments,
             "template": [int(template), allen.experiment_fingerprint(boc, template)],
             "checkpoints": {e.stem: e.sha256 for e in checkpoints.select_checkpoints(names=cfg.checkpoint_names)},
             "code": science_digest(), "cache_versions": cache.CODE_VERSIONS,
             "packages": tables.environment_provenance()["packages"], "ci_level": CI_LEVEL}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def up_to_date(cfg: RunConfig, key: str) -> bool:
    """Whether the run's tables on disk were written by a run with this ``key`` (all present)."""
    import json

    out, tests_path, prov_path = output_paths(cfg)
    ceilings = tables.results_path(cfg.source, cfg.stimulus, int(cfg.depth), protocol=cfg.protocol, kind="ceilings")
    if not (out.is_file() and prov_path.is_file() and ceilings.is_file()):
        return False
    try:
        prov = json.loads(prov_path.read_text())
    except ValueError:
        return False
    if prov.get("run_key") != key:
        return False
    return tests_path.is_file() or not prov.get("has_tests", False)


def run(cfg: RunConfig, progress: bool = True, jobs: int | None = None, dask: str | None = None,
        force: bool = False) -> Path:
    """Compute one stimulus x depth under ``cfg.protocol``; write its tables and provenance.

    Returns the scores CSV path. The tests table is written beside it when there is
    one; otherwise a tests table left by an earlier run is removed (it would not
    belong to the new scores). Every file is written atomically, the scores last.
    Tables written by a run with the same :func:`run_key` are kept as they are (unless
    ``force``): the key covers the settings, the data files, the checkpoints and the code.
    """
    key = run_key(cfg)
    out, tests_path, prov_path = output_paths(cfg)
    if not force and up_to_date(cfg, key):
        if progress:
            print(f"{out.name}: up to date (same settings, data, checkpoints and code)", file=sys.stderr, flush=True)
        return out
    res = compute_tables(cfg, progress=progress, jobs=jobs, dask=dask)
    tables.write_json(res.provenance, prov_path)
    tables.write_table(res.ceilings, tables.results_path(cfg.source, cfg.stimulus, int(cfg.depth),
                                                         protocol=cfg.protocol, kind="ceilings"))
    if res.tests is not None:
        tables.write_table(res.tests, tests_path)
    elif tests_path.exists():
        log.info("removing %s: this run wrote no tests table", tests_path)
        tests_path.unlink()
    tables.write_table(res.table, out)
    # the key last: a run stopped before this point leaves no table that looks up to date
    tables.write_json({**res.provenance, "run_key": key, "has_tests": res.tests is not None}, prov_path)
    return out
