"""Building a synthetic cache: the whole folder, atomically; describing and extending one."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .. import study
from .design import (_BASE_MOVIE, _BASE_STATIC, BASE_STIMULI, DEPTH_AMPLITUDE, DFF_NOISE, DFF_TAU_S, DISPLAY_RATE,
                     EXTRA_STREAM, GAIN_SIGMA, IMAGING_RATE, LATENCY_FRAMES, MOVIE_GRID, PRESETS, REPORTER,
                     RF_SIGMA, SCENE_GRID, SESSION_TYPES, SHARED_GAIN_SIGMA, TAU_FRAMES, Plant, Preset, _rng,
                     extra_stimuli, session_stimuli)
from .maps import stimulus_features
from .neurons import make_population, simulate_session
from .nwb import _write_nwb
from .records import _container_record, _container_specs, _experiment_record, _genotype
from .timeline import _append, _extra_timeline, _session_timeline

#: Version of the generator's output: 2 = the survey design (``default`` preset), the
#: response model fitted to the published ceilings. A cache written by another version is
#: rebuilt by :func:`ensure_synthetic_cache`.
GENERATOR_VERSION = "2"



def _write_npz_deterministic(path: Path, **arrays: np.ndarray) -> None:
    """Like ``np.savez_compressed`` but with fixed zip timestamps (byte-identical reruns)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=6)


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _plant_summary(plant: Plant | None, feats: Mapping[str, np.ndarray] | None) -> dict | None:
    if plant is None:
        return None
    return {
        "area": plant.area,
        "weight": plant.weight,
        "gain": plant.gain,
        "depths": list(plant.depths) if plant.depths else None,
        "mode": plant.mode,
        "response": plant.response,
        "features_sha256": {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
                            for k, v in (feats or {}).items()},
    }


def _clean_stale(root: Path) -> None:
    """Remove temporary build folders of processes that no longer exist."""
    for p in root.parent.glob(f".{root.name}.building-*"):
        try:
            pid = int(p.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
        if not alive:
            shutil.rmtree(p, ignore_errors=True)


def build_synthetic_cache(root: Path, preset: str = "default", seed: int = 0, progress: bool = True, *,
                          plant: Plant | None = None, overwrite: bool = False,
                          depths: Sequence[int] | None = None, stimuli: Sequence[str] | None = None,
                          jobs: int | None = None) -> Path:
    """Write a complete synthetic Brain Observatory cache under ``root`` and return ``root``.

    Parameters
    ----------
    root:
        Target folder (e.g. ``config.cache_dir("synthetic")``). It is built in a
        temporary sibling folder and renamed at the end, so an interrupted build
        never leaves a partial cache.
    preset:
        ``"default"`` (30 containers, real template shapes) or ``"small"``
        (6 containers, depth 175 only, reduced templates; for tests).
    seed:
        Seed of the neural model and the presentation orders (ids do not depend on it).
    progress:
        Report progress over sessions (:func:`analysis.progress.progress`).
    plant:
        Optional :class:`Plant` (a known answer planted in one area).
    overwrite:
        Replace an existing cache at ``root`` (otherwise a FileExistsError).
    depths:
        Imaging depths (um) to simulate instead of the preset's (e.g. ``(175, 275, 375)``).
        Containers of a depth the preset lacks get ``containers_per_new_depth`` per area;
        the containers of the other depths, and their data, are the same whatever
        depths are added (ids and random streams depend on the container alone).
    stimuli:
        Natural stimuli to show (default: :data:`BASE_STIMULI`, the original study's two);
        any other movie of :data:`analysis.study.STIMULI` is appended to the sessions that
        show it in the survey (:func:`extra_stimuli`), leaving the base stimuli's data
        unchanged.
    jobs:
        Worker processes for a survey preset's containers (``-1`` all cores; default: all
        cores, at most one per 3 GB of available memory). The files do not depend on it.
    """
    from .. import stimuli as stimuli_mod
    from ..progress import progress as tqdm  # a bar on a terminal, plain lines otherwise

    study.validate_choice("preset", preset, tuple(PRESETS))
    pre = PRESETS[preset]
    if depths is not None:
        bad = [d for d in depths if int(d) <= 0]
        if bad or not depths:
            raise ValueError(f"depths must be positive integers (um); got {list(depths)}")
        pre = dataclasses.replace(pre, depths=tuple(sorted({int(d) for d in depths})))
    if plant is not None:
        study.validate_choice("plant area", plant.area, study.AREAS)
    for name in stimuli or ():
        study.get_stimulus(name)
    extras = extra_stimuli(stimuli or ())
    root = Path(root).expanduser().resolve()
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{root} already exists and is not empty; pass overwrite=True "
            "(CLI: `python -m analysis synth --force`) or remove it"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-{os.getpid()}-", dir=root.parent))
    t0 = time.time()
    try:
        os.chmod(tmp, 0o755)
        if pre.survey is not None:
            _build_survey_into(tmp, pre, int(seed), progress, plant, tqdm, stimuli_mod, extras, jobs)
        else:
            _build_into(tmp, pre, int(seed), progress, plant, tqdm, stimuli_mod, extras)
        if root.exists():
            trash = root.parent / f".{root.name}.old-{os.getpid()}"
            os.replace(root, trash)
            os.replace(tmp, root)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress:
        print(f"synthetic cache ({preset}, seed {seed}) written to {root} in {time.time() - t0:.1f} s")
    return root


def _templates(pre: Preset, stimuli, extras: Sequence[str] = ()) -> list[np.ndarray]:
    """Stand-in templates of a preset: scenes, movie, then each extra movie (frames from its
    :class:`~analysis.study.Stimulus` record, frame size the preset's movie's); reduced
    shapes are memoised in the work cache ("stimuli")."""
    from functools import partial

    from .. import cache

    out = []
    jobs = [("scenes", stimuli.scene_templates, pre.scenes_shape, {}),
            ("movie", stimuli.movie_template, pre.movie_shape, {})]
    for name in extras:
        stim = study.get_stimulus(name)
        jobs.append((name, partial(stimuli.movie_template, seed=stim.standin_seed),
                     (stim.n_frames,) + tuple(pre.movie_shape[1:]), {"seed": stim.standin_seed}))
    for kind, fn, shape, extra_parts in jobs:
        parts = {"kind": kind, "shape": list(shape), **extra_parts,
                 "sources": [(r["package"], r["version"], r["path"]) for r in stimuli.SOURCES]}
        if np.prod(shape) > 20_000_000:  # full-size templates: recomputing (~5 s) beats a 300 MB entry
            arr = fn(shape)
        else:
            try:
                arr = cache.get_or_compute("stimuli", parts, lambda fn=fn, shape=shape: {"t": fn(shape)})["t"]
            except OSError:  # unwritable work cache: compute without memoising
                arr = fn(shape)
        out.append(arr)
    return out


def _build_into(tmp: Path, pre: Preset, seed: int, progress: bool, plant: Plant | None, tqdm, stimuli,
                extras: Sequence[str] = ()) -> None:
    from allensdk.core.brain_observatory_cache import BrainObservatoryCache

    # manifest.json exactly as AllenSDK writes it (constructing the cache writes it; no network)
    BrainObservatoryCache(manifest_file=str(tmp / "manifest.json"))
    (tmp / "ophys_experiment_data").mkdir()
    (tmp / "ophys_experiment_events").mkdir()

    scenes, movie, *extra_tpl = _templates(pre, stimuli, extras)
    extra_templates = dict(zip(extras, extra_tpl))
    extra_feats = [stimulus_features(t, MOVIE_GRID, temporal=True) for t in extra_tpl]
    n_scenes, n_movie = scenes.shape[0], movie.shape[0]
    maps = feature_maps(scenes, movie)
    scene_feats, grey_raw, movie_feats = maps.scenes, maps.grey, maps.movie
    planted = planted_features(plant, scenes, movie)

    specs = _container_specs(pre)
    # an extra movie's template goes into the file of the lowest experiment id showing it
    # (what analysis.allen.template_experiment reads for a stimulus without a fixed one)
    template_home: dict[int, dict[str, np.ndarray]] = {}
    for name in extras:
        ids = [c.experiment_ids[st] for c in specs if not c.failed for st in SESSION_TYPES
               if name in session_stimuli(st, extras)]
        template_home.setdefault(min(ids), {})[name] = extra_templates[name]
    offset = {}  # first row of each extra movie in Population.extra (row 0 is grey)
    row = 1
    for name in extras:
        offset[name] = row
        row += study.get_stimulus(name).n_frames
    containers, experiments, cells_json = [], [], []
    bar = tqdm(total=3 * len(specs), desc="synthetic sessions", unit="session", disable=not progress)
    try:
        for c in specs:
            rng_c = _rng(seed, c.container_id)
            pool = len(c.cell_ids)
            use_plant = plant is not None and plant.area == c.area and (
                plant.depths is None or c.depth in plant.depths)
            pop = make_population(rng_c, c.area, c.depth, pool, scene_feats, grey_raw, movie_feats,
                                  planted if use_plant else None,
                                  plant.weight if use_plant else 1.0, plant.gain if use_plant else 1.0,
                                  plant.mode if use_plant else "standardize",
                                  plant.response if use_plant else "model", extra_feats)
            containers.append(_container_record(c))
            for st in SESSION_TYPES:
                eid = c.experiment_ids[st]
                rng_s = _rng(seed, c.container_id, eid)
                k = min(pool, max(1, int(round(c.n_cells * rng_s.uniform(0.92, 1.08)))))
                cells = np.sort(rng_s.choice(pool, size=k, replace=False))
                tl = _session_timeline(st, rng_s, n_scenes, n_movie, pre.spontaneous_s)
                events, dff = simulate_session(rng_s, pop, cells, tl)
                shown = session_stimuli(st, extras)
                here = [n for n in extras if n in shown]
                if here:  # extra movies: a segment after the base design, with its own stream
                    tl_x = _extra_timeline([(n, study.get_stimulus(n).n_frames, study.get_stimulus(n).presentations)
                                            for n in here])
                    rows = np.concatenate([[0]] + [offset[n] + np.arange(study.get_stimulus(n).n_frames)
                                                   for n in here])
                    pop_x = dataclasses.replace(pop, responses=pop.extra[rows])
                    ev_x, dff_x = simulate_session(_rng(seed, c.container_id, eid, EXTRA_STREAM), pop_x, cells, tl_x)
                    events, dff = np.concatenate([events, ev_x], axis=1), np.concatenate([dff, dff_x], axis=1)
                    tl = _append(tl, tl_x)
                tpl = dict(template_home.get(eid, {}))
                if eid == study.TEMPLATE_EXPERIMENT_ID:
                    tpl.update({_BASE_STATIC: scenes, _BASE_MOVIE: movie})
                _write_nwb(tmp / "ophys_experiment_data" / f"{eid}.nwb", c, st, c.cell_ids[cells], dff, tl, tpl or None,
                           shown)
                _write_npz_deterministic(tmp / "ophys_experiment_events" / f"{eid}_events.npz", ev=events)
                experiments.append(_experiment_record(c, st))
                bar.update(1)
            for cid in c.cell_ids:
                cells_json.append({
                    "cell_specimen_id": int(cid), "experiment_container_id": c.container_id,
                    "area": c.area, "imaging_depth": c.depth, "tld1_name": c.cre_line,
                    "tlr1_name": REPORTER, "donor_full_genotype": _genotype(c.cre_line),
                    "specimen_id": c.specimen_id, "failed_experiment_container": c.failed,
                    "source": "synthetic",
                })
    finally:
        bar.close()

    _write_json(tmp / "experiment_containers.json", containers)
    _write_json(tmp / "ophys_experiments.json", experiments)
    _write_json(tmp / "cell_specimens.json", cells_json)
    _write_json(tmp / "stimulus_mappings.json", [])
    _write_json(
        tmp / "provenance.json",
        {
            "source": "synthetic",
            "generator": "analysis.synthetic.build_synthetic_cache",
            "generator_version": GENERATOR_VERSION,
            "preset": pre.name,
            "seed": seed,
            "stimuli": list(BASE_STIMULI) + list(extras),
            "parameters": {
                "areas": list(pre.areas), "depths": list(pre.depths),
                "containers": {f"{a}_{d}": n for (a, d), n in pre.containers.items()},
                "cells_per_session_175um": dict(pre.cells),
                "extra_containers": [list(e) for e in pre.extra],
                "scenes_shape": list(pre.scenes_shape), "movie_shape": list(pre.movie_shape),
                "imaging_rate_hz": IMAGING_RATE, "display_rate_hz": DISPLAY_RATE,
                "rf_sigma": RF_SIGMA, "tau_frames": TAU_FRAMES, "latency_frames": LATENCY_FRAMES,
                "gain_sigma": {str(k): v for k, v in GAIN_SIGMA.items()},
                "depth_amplitude": {str(k): v for k, v in DEPTH_AMPLITUDE.items()},
                "shared_gain_sigma": SHARED_GAIN_SIGMA, "dff_tau_s": DFF_TAU_S, "dff_noise": DFF_NOISE,
                "template_experiment_id": study.TEMPLATE_EXPERIMENT_ID,
            },
            "plant": _plant_summary(plant, planted),
            "stimulus_sources": stimuli.SOURCES,
        },
    )


def _cell_records(c) -> list[dict]:
    return [{"cell_specimen_id": int(cid), "experiment_container_id": c.container_id,
             "area": c.area, "imaging_depth": c.depth, "tld1_name": c.cre_line,
             "tlr1_name": REPORTER, "donor_full_genotype": _genotype(c.cre_line),
             "specimen_id": c.specimen_id, "failed_experiment_container": c.failed,
             "source": "synthetic"} for cid in c.cell_ids]


@dataclasses.dataclass(frozen=True)
class FeatureMaps:
    """Stimulus feature maps of a build (:func:`analysis.synthetic.stimulus_features`)."""

    scenes: np.ndarray
    grey: np.ndarray
    movie: np.ndarray
    extra: tuple[np.ndarray, ...] = ()


def planted_features(plant: Plant | None, scenes: np.ndarray, movie: np.ndarray) -> dict[str, np.ndarray]:
    """The plant's features of the base stimuli (those it gives), by stimulus name."""
    if plant is None:
        return {}
    out = {}
    for name, tpl in ((_BASE_STATIC, scenes), (_BASE_MOVIE, movie)):
        f = plant.features_for(name, tpl)
        if f is not None:
            out[name] = f
    return out


def feature_maps(scenes: np.ndarray, movie: np.ndarray, extra_templates: Sequence[np.ndarray] = ()) -> FeatureMaps:
    """The feature maps of the scenes, the grey screen, movie one and any extra movies."""
    grey = np.full((1,) + scenes.shape[1:], 127, np.uint8)
    return FeatureMaps(stimulus_features(scenes, SCENE_GRID, temporal=False),
                       stimulus_features(np.concatenate([scenes, grey]), SCENE_GRID, temporal=False)[-1:],
                       stimulus_features(movie, MOVIE_GRID, temporal=True),
                       tuple(stimulus_features(t, MOVIE_GRID, temporal=True) for t in extra_templates))


def container_population(seed: int, c, maps: FeatureMaps, plant: Plant | None = None,
                         planted: Mapping[str, np.ndarray] | None = None):
    """The population of container ``c`` (stream ``(seed, container)``), planted when ``plant`` targets it."""
    use = plant is not None and plant.area == c.area and (plant.depths is None or c.depth in plant.depths)
    return make_population(_rng(seed, c.container_id), c.area, c.depth, len(c.cell_ids), maps.scenes, maps.grey,
                           maps.movie, planted if use else None, plant.weight if use else 1.0,
                           plant.gain if use else 1.0, plant.mode if use else "standardize",
                           plant.response if use else "model", maps.extra)


def _survey_container(task) -> tuple[dict, list[dict], list[dict]]:
    """Simulate and write one container's three sessions (a worker's task); its JSON records."""
    from .sessions import survey_session

    tmp, seed, c, maps, plant, planted, model, simulated, templates_of = task
    pop = container_population(seed, c, maps, plant, planted)
    experiments = []
    for st in SESSION_TYPES:
        s = survey_session(seed, c, st, pop, model, simulated)
        eid = s.experiment_id
        _write_nwb(Path(tmp) / "ophys_experiment_data" / f"{eid}.nwb", c, st, c.cell_ids[s.cells], s.dff,
                   s.timeline, templates_of.get(eid) or None, session_stimuli(st, simulated), quantized=True)
        _write_npz_deterministic(Path(tmp) / "ophys_experiment_events" / f"{eid}_events.npz", ev=s.events)
        experiments.append(_experiment_record(c, st))
    return _container_record(c), experiments, _cell_records(c)


def _build_survey_into(tmp: Path, pre: Preset, seed: int, progress: bool, plant: Plant | None, tqdm, stimuli,
                       extras: Sequence[str] = (), jobs: int | None = None) -> None:
    """A survey preset's cache (:mod:`analysis.synthetic.survey`): containers in parallel."""
    import joblib
    from allensdk.core.brain_observatory_cache import BrainObservatoryCache

    from .response_model import load_response_model

    BrainObservatoryCache(manifest_file=str(tmp / "manifest.json"))
    (tmp / "ophys_experiment_data").mkdir()
    (tmp / "ophys_experiment_events").mkdir()
    scenes, movie, *extra_tpl = _templates(pre, stimuli, extras)
    maps = feature_maps(scenes, movie, extra_tpl)
    planted = planted_features(plant, scenes, movie)
    model = load_response_model(pre.survey)
    simulated = tuple(BASE_STIMULI) + tuple(extras)
    specs = _container_specs(pre)
    homes: dict[int, dict[str, np.ndarray]] = {}
    for name, tpl in zip(extras, extra_tpl):
        ids = [c.experiment_ids[st] for c in specs if not c.failed for st in SESSION_TYPES
               if name in session_stimuli(st, extras)]
        homes.setdefault(min(ids), {})[name] = tpl
    homes.setdefault(study.TEMPLATE_EXPERIMENT_ID, {}).update({_BASE_STATIC: scenes, _BASE_MOVIE: movie})

    def task(c):
        mine = {e: homes[e] for e in c.experiment_ids.values() if e in homes}
        return (str(tmp), seed, c, maps, plant, planted, model, simulated, mine)

    n = build_jobs(jobs)
    bar = tqdm(total=len(specs), desc=f"synthetic containers ({n} worker{'s' if n > 1 else ''})", unit="container",
               disable=not progress)
    results = []
    try:
        if n == 1:
            for c in specs:
                results.append(_survey_container(task(c)))
                bar.update(1)
        else:
            run = joblib.Parallel(n_jobs=n, backend="loky", return_as="generator")
            for r in run(joblib.delayed(_survey_container)(task(c)) for c in specs):
                results.append(r)
                bar.update(1)
    finally:
        bar.close()
    containers = [r[0] for r in results]
    experiments = [e for r in results for e in r[1]]
    cells_json = [x for r in results for x in r[2]]
    _write_json(tmp / "experiment_containers.json", containers)
    _write_json(tmp / "ophys_experiments.json", experiments)
    _write_json(tmp / "cell_specimens.json", cells_json)
    _write_json(tmp / "stimulus_mappings.json", [])
    from .neurons import L0_HALF_LIFE_S
    from .survey import EPOCH_PLANS, SESSION_FRAMES

    _write_json(tmp / "provenance.json", {
        "source": "synthetic", "generator": "analysis.synthetic.build_synthetic_cache",
        "generator_version": GENERATOR_VERSION, "preset": pre.name, "seed": seed,
        "stimuli": list(simulated),
        "parameters": {
            "survey": pre.survey, "areas": list(pre.areas), "depths": list(pre.depths),
            "containers": {f"{a}_{d}": n for (a, d), n in pre.containers.items()},
            "extra_containers": [list(e) for e in pre.extra],
            "session_frames": SESSION_FRAMES, "epoch_plans": {k: [e[0] for e in v] for k, v in EPOCH_PLANS.items()},
            "scenes_shape": list(pre.scenes_shape), "movie_shape": list(pre.movie_shape),
            "imaging_rate_hz": IMAGING_RATE, "display_rate_hz": DISPLAY_RATE,
            "rf_sigma": RF_SIGMA, "tau_frames": TAU_FRAMES, "latency_frames": LATENCY_FRAMES,
            "gain_sigma": {str(k): v for k, v in GAIN_SIGMA.items()},
            "l0_half_life_s": L0_HALF_LIFE_S, "dff": "events convolved with the L0 transient, noise-free, 1/128 steps",
            "response_model": {"rows": model.as_rows(), "fit": model.meta},
            "template_experiment_id": study.TEMPLATE_EXPERIMENT_ID,
        },
        "plant": _plant_summary(plant, planted),
        "stimulus_sources": stimuli.SOURCES,
    })


#: Memory one survey-build worker needs at most (bytes): the largest session's rates,
#: events and dF/F, with room for the templates.
WORKER_BYTES: int = 3 * 2**30


def build_jobs(jobs: int | None) -> int:
    """Workers for a survey build: ``jobs`` when given (``-1`` all cores), else all cores but at
    most one per :data:`WORKER_BYTES` of available memory (at least 1)."""
    from ..parallel import local_jobs

    return local_jobs(jobs, WORKER_BYTES)


def cache_description(root: Path) -> dict:
    """Preset, seed and depths of an existing synthetic cache (from its ``provenance.json``).

    Returns an empty dict when ``root`` holds no synthetic cache.
    """
    path = Path(root) / "provenance.json"
    if not path.exists():
        return {}
    prov = json.loads(path.read_text())
    return {"preset": prov.get("preset"), "seed": prov.get("seed"),
            "generator_version": str(prov.get("generator_version", "1")),
            "response_model": prov.get("parameters", {}).get("response_model", {}).get("rows"),
            "depths": tuple(int(d) for d in prov.get("parameters", {}).get("depths", ())),
            "stimuli": tuple(prov.get("stimuli", BASE_STIMULI))}


def ensure_synthetic_cache(root: Path, depths: Sequence[int] = (), preset: str = "default", seed: int = 0,
                           progress: bool = True, stimuli: Sequence[str] = ()) -> Path:
    """Make sure ``root`` holds a synthetic cache covering ``depths`` and ``stimuli``; build or extend it if not.

    An existing cache is kept when it already has every requested depth and stimulus.
    Otherwise it is rebuilt with its own preset and seed over the union of what it had and
    what is requested; the data it had are unchanged (see :func:`build_synthetic_cache`).
    """
    have = cache_description(root)
    want_d, want_s = {int(d) for d in depths}, set(stimuli)
    if have and have["generator_version"] != GENERATOR_VERSION:
        if progress:
            print(f"the synthetic Brain Observatory in {root} was written by generator version "
                  f"{have['generator_version']} (this is {GENERATOR_VERSION}): rebuilding it")
        have = {}
    if have and have["preset"] in PRESETS and PRESETS[have["preset"]].survey is not None:
        from .response_model import load_response_model

        rows = load_response_model(PRESETS[have["preset"]].survey).as_rows()
        if json.loads(json.dumps(rows)) != have["response_model"]:
            if progress:
                print(f"the synthetic Brain Observatory in {root} was written with another response model "
                      "(refitted since): rebuilding it")
            have = {}
    if have and want_d <= set(have["depths"]) and want_s <= set(have["stimuli"]):
        return Path(root)
    if have:
        preset, seed = have["preset"] or preset, int(have["seed"] if have["seed"] is not None else seed)
        wanted = sorted(set(have["depths"]) | want_d)
        shown = set(have["stimuli"]) | want_s
    else:
        wanted = sorted(set(PRESETS[preset].depths) | want_d)
        shown = set(BASE_STIMULI) | want_s
    names = [s for s in study.STIMULUS_NAMES if s in shown]
    if progress:
        print(f"building the synthetic Brain Observatory ({preset}, depths {wanted}, stimuli {', '.join(names)}) "
              f"in {root} ...")
    return build_synthetic_cache(root, preset=preset, seed=seed, progress=progress, overwrite=True,
                                 depths=wanted, stimuli=names)
