"""Brain Observatory data access through the unmodified AllenSDK, offline-safe.

Both data sources, the real Allen Brain Observatory (``"allen"``) and the
embedded synthetic one (``"synthetic"``, see :mod:`analysis.synthetic`), are
AllenSDK ``BrainObservatoryCache`` folders and are read with the same AllenSDK
calls the original study used.

Offline behaviour. ``BrainObservatoryCache`` uses a file when it exists and
downloads it otherwise; ``get_ophys_experiments()`` also always makes one
uncached request (an eye-tracking query). :func:`open_cache` passes AllenSDK
an :class:`LocalFirstApi` (a ``BrainObservatoryApi`` subclass) that

* answers the eye-tracking query with ``[]`` locally (never a network call);
* with downloads disabled (the default), raises :class:`DataUnavailableError`
  naming the missing file, its expected path and how to obtain it, instead of
  touching the network (no hang, no partial file);
* with downloads enabled (``download=True``, ``--download`` or
  ``RSA_DOWNLOAD=1``), lets AllenSDK fetch the file, streaming it with a tqdm
  progress bar into a temporary name in the target folder that is renamed only
  when complete, so an interrupted download leaves no partial file in the cache;
  metadata JSON files are written the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import cache, config, fileio, net, study

SYNTH_HINT = "build it with `python -m analysis synth`"


class DataUnavailableError(RuntimeError):
    """A Brain Observatory file is not in the local cache and may not be downloaded.

    Attributes ``what`` (description), ``path`` (expected location, or None).
    """

    def __init__(self, message: str, what: str = "", path: str | os.PathLike | None = None):
        super().__init__(message)
        self.what = what
        self.path = None if path is None else str(path)


class DataFileError(ValueError):
    """A Brain Observatory file exists but cannot be read (truncated, corrupt, incomplete).

    The message names the file, what failed and what to do; ``path`` is the file.
    """

    def __init__(self, path: str | os.PathLike, reason: str, source: str | None = None):
        fix = ("rebuild the synthetic Brain Observatory with `python -m analysis synth --force`"
               if source == "synthetic" else
               "delete it so that AllenSDK downloads it again (`--download`), or rebuild a synthetic "
               "cache with `python -m analysis synth --force`")
        super().__init__(f"cannot read {path}: {reason}; {fix}")
        self.path = str(path)


#: What reading an NWB (HDF5) or events (.npz) file raises when the file is damaged.
_READ_ERRORS = (OSError, KeyError, EOFError, zipfile.BadZipFile, ValueError, TypeError)


def _reading(boc, experiment_id: int, key: str, what):
    """Run ``what()``; a damaged file's error becomes a :class:`DataFileError` naming the file."""
    try:
        return what()
    except (DataUnavailableError, DataFileError, net.NetworkError):
        raise
    except _READ_ERRORS as exc:
        path = boc.get_cache_path(None, key, int(experiment_id))
        if not Path(path).exists():
            raise
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if str(path).endswith(".npz") and not zipfile.is_zipfile(path):
            reason = f"not an .npz (zip) archive ({Path(path).stat().st_size} bytes)"
        raise DataFileError(path, reason, cache_source(boc)) from exc


#: Datasets of an experiment's NWB file that the analysis reads (AllenSDK's paths).
NWB_REQUIRED: tuple[str, ...] = (
    "processing/brain_observatory_pipeline/ImageSegmentation/cell_specimen_ids",
    "stimulus/presentation",
)


def experiment_files(boc, experiment_id: int) -> tuple[Path, Path]:
    """``(NWB path, events path)`` of an experiment, each obtained through the cache first
    (downloaded when allowed, else :class:`DataUnavailableError`)."""
    nwb = Path(boc.get_cache_path(None, boc.EXPERIMENT_DATA_KEY, int(experiment_id)))
    events = Path(boc.get_cache_path(None, boc.EVENTS_DATA_KEY, int(experiment_id)))
    if not events.exists():
        boc.get_ophys_experiment_events(int(experiment_id))
    if not nwb.exists():
        boc.get_ophys_experiment_data(int(experiment_id))
    return nwb, events


def check_experiment_files(boc, experiment_id: int) -> None:
    """Open an experiment's NWB and events files and check what the analysis reads is there.

    Cheap (no trace is read): the NWB's required datasets exist, the events archive is a
    readable zip holding ``ev.npy`` whose members pass their CRC checks. A damaged file
    raises :class:`DataFileError` naming it, before any heavy work starts; a missing one is
    obtained as usual (downloaded when allowed, else :class:`DataUnavailableError`). A
    pair that passed is not checked again in this process while both files keep their
    device, inode, size, mtime and ctime (ctime cannot be set back by a user), so the eight
    tables of a paper check each file once.
    """
    import h5py

    experiment_id = int(experiment_id)
    nwb, events = experiment_files(boc, experiment_id)
    stamp = tuple(cache.file_identity(p.stat()) for p in (nwb, events))
    if _CHECKED.get((str(nwb), str(events))) == stamp:
        return

    def nwb_ok() -> None:
        with h5py.File(nwb, "r") as f:
            for key in NWB_REQUIRED:
                if key not in f:
                    raise KeyError(f"dataset {key!r} is missing")

    def events_ok() -> None:
        with zipfile.ZipFile(events) as z:
            if "ev.npy" not in z.namelist():
                raise KeyError(f"member 'ev.npy' is missing (members: {z.namelist()})")
            bad = z.testzip()
            if bad is not None:
                raise zipfile.BadZipFile(f"member {bad!r} fails its CRC check")

    _reading(boc, experiment_id, boc.EXPERIMENT_DATA_KEY, nwb_ok)
    _reading(boc, experiment_id, boc.EVENTS_DATA_KEY, events_ok)
    _CHECKED[(str(nwb), str(events))] = stamp


#: Experiment file pairs that passed :func:`check_experiment_files` -> their files' stamps.
_CHECKED: dict[tuple[str, str], tuple] = {}


def _env_download() -> bool:
    return os.environ.get("RSA_DOWNLOAD", "").strip().lower() in ("1", "true", "yes", "on")


def _atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    fileio.write_text_atomic(path, json.dumps(data, indent=2))


def _make_api_class():
    from allensdk.api.queries.brain_observatory_api import BrainObservatoryApi

    class LocalFirstApi(BrainObservatoryApi):
        """``BrainObservatoryApi`` that never touches the network unless downloads are enabled."""

        def __init__(self, cache_root: Path, source: str = "allen", download: bool = False, base_uri=None):
            super().__init__(base_uri=base_uri)
            self.cache_root = Path(cache_root)
            self.source = source
            self.download = bool(download)

        # -- the rule ---------------------------------------------------------------
        def _unavailable(self, what: str, path: str | None) -> DataUnavailableError:
            where = f"expected at {path}" if path else "no cache path was given"
            if self.source == "synthetic":
                how = (
                    f"The synthetic Brain Observatory at {self.cache_root} does not contain it; "
                    f"{SYNTH_HINT} (add --force to rebuild)."
                )
            else:
                how = (
                    "Downloads are disabled. To obtain it, run with downloads enabled "
                    "(`--download` or RSA_DOWNLOAD=1; analysis.allen.open_cache(..., download=True)) "
                    "on a machine with network access to api.brain-map.org, or copy the file to that path."
                )
                if net.offline():
                    how += " The offline switch (RSA_OFFLINE=1 or --offline) is set: unset it to allow downloads."
            return DataUnavailableError(f"{what} is not in the local cache ({where}). {how}", what, path)

        def _need(self, path: str | None, what: str) -> None:
            if path and os.path.exists(path):
                return
            if not self.download:
                raise self._unavailable(what, path)

        def _atomic(self, kwargs: dict) -> dict:
            if kwargs.get("writer") is not None:
                kwargs = dict(kwargs, writer=_atomic_write_json)
            return kwargs

        # -- the one uncached query of get_ophys_experiments -------------------------
        def template_query(self, template_name, entry_name, **kwargs):
            if entry_name == "all_eye_mapping_files":
                return []
            if not self.download:
                raise self._unavailable(f"AllenSDK query {entry_name!r}", None)
            return super().template_query(template_name, entry_name, **kwargs)

        # -- metadata (JSON) ---------------------------------------------------------
        def get_experiment_containers(self, *args, **kwargs):
            self._need(kwargs.get("path"), "Experiment container metadata (experiment_containers.json)")
            return super().get_experiment_containers(*args, **self._atomic(kwargs))

        def get_ophys_experiments(self, *args, **kwargs):
            self._need(kwargs.get("path"), "Ophys experiment metadata (ophys_experiments.json)")
            return super().get_ophys_experiments(*args, **self._atomic(kwargs))

        def get_cell_metrics(self, *args, **kwargs):
            self._need(kwargs.get("path"), "Cell specimen metadata (cell_specimens.json)")
            return super().get_cell_metrics(*args, **self._atomic(kwargs))

        def get_stimulus_mappings(self, *args, **kwargs):
            self._need(kwargs.get("path"), "Stimulus mappings (stimulus_mappings.json)")
            return super().get_stimulus_mappings(*args, **self._atomic(kwargs))

        # -- data files --------------------------------------------------------------
        def save_ophys_experiment_data(self, ophys_experiment_id, file_name, **kwargs):
            self._need(file_name, f"The NWB file of ophys experiment {ophys_experiment_id}")
            return super().save_ophys_experiment_data(ophys_experiment_id, file_name, **kwargs)

        def save_ophys_experiment_event_data(self, ophys_experiment_id, file_name, **kwargs):
            self._need(file_name, f"The events file of ophys experiment {ophys_experiment_id}")
            return super().save_ophys_experiment_event_data(ophys_experiment_id, file_name, **kwargs)

        def save_ophys_experiment_analysis_data(self, ophys_experiment_id, file_name, **kwargs):
            self._need(file_name, f"The analysis file of ophys experiment {ophys_experiment_id}")
            return super().save_ophys_experiment_analysis_data(ophys_experiment_id, file_name, **kwargs)

        def save_ophys_experiment_eye_gaze_data(self, ophys_experiment_id, ophys_session_id, file_name,
                                                **kwargs):
            self._need(file_name, f"The eye-gaze file of ophys experiment {ophys_experiment_id}")
            return super().save_ophys_experiment_eye_gaze_data(
                ophys_experiment_id, ophys_session_id, file_name, **kwargs)

        # -- the network, guarded ----------------------------------------------------
        def retrieve_parsed_json_over_http(self, url, post=False):
            if not self.download:
                raise self._unavailable(f"The API response for {url}", None)
            return _get_json(url, post=post)

        def retrieve_file_over_http(self, url, file_path, zipped=False):
            if not self.download:
                raise self._unavailable(f"The file at {url}", file_path)
            if zipped:  # not used by the Brain Observatory calls of this project
                return super().retrieve_file_over_http(url, file_path, zipped=True)
            _stream_atomic(url, Path(file_path))

    return LocalFirstApi


def _get_json(url: str, post: bool = False) -> Any:
    """AllenSDK's JSON query (GET, or POST of the query string as JSON), with timeouts and retries.

    Replaces ``json_utilities.read_url_get/post`` (``urlopen`` without a timeout); a host
    that cannot be reached raises :class:`analysis.net.NetworkError` (see :mod:`analysis.net`).
    """
    import requests
    from urllib.parse import parse_qsl, urlsplit, urlunsplit

    if post:
        u = urlsplit(url)
        target, body = urlunsplit((u.scheme, u.netloc, u.path, "", "")), json.dumps(dict(parse_qsl(u.query)))
    else:
        target, body = requests.utils.quote(url, ";/?:@&=+$,"), None

    def attempt() -> Any:
        with net.get(target, "an AllenSDK query", post_json=body) as response:
            return json.loads(response.content.decode("utf-8"))

    return net.with_retries(attempt, target, "an AllenSDK query")


def _stream_atomic(url: str, path: Path) -> None:
    """Download ``url`` to ``path`` via a temporary name in the same folder (with progress).

    Connect/read timeouts and bounded retries from :mod:`analysis.net`; a failed attempt
    leaves no partial file; the last failure raises :class:`analysis.net.NetworkError`.
    """
    from .progress import progress

    def attempt() -> None:
        with fileio.atomic_path(path, suffix=".part") as tmp, net.get(url, path.name, stream=True) as response:
            total = int(response.headers.get("content-length") or 0) or None
            with open(tmp, "wb") as f, progress(total=total, unit="B", unit_scale=True, desc=path.name) as bar:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))

    net.with_retries(attempt, url, path.name, path)


_API_CLASS = None


def local_first_api(cache_root: Path, source: str = "allen", download: bool = False):
    """An instance of :class:`LocalFirstApi` (created lazily: importing AllenSDK is slow)."""
    global _API_CLASS
    if _API_CLASS is None:
        _API_CLASS = _make_api_class()
    return _API_CLASS(cache_root, source=source, download=download)


# --------------------------------------------------------------------------------------
# Opening a cache
# --------------------------------------------------------------------------------------


def open_cache(source: str, root: Path | None = None, download: bool | None = None):
    """Open the AllenSDK ``BrainObservatoryCache`` of a data source.

    Parameters
    ----------
    source:
        ``"synthetic"`` or ``"allen"``.
    root:
        Cache folder (holds ``manifest.json``); default ``config.cache_dir(source)``.
    download:
        Allow AllenSDK to download missing files (``"allen"`` only). ``None``
        reads ``RSA_DOWNLOAD`` (``1``/``true`` enables). Never for ``"synthetic"``.

    Raises
    ------
    DataUnavailableError
        ``"synthetic"`` with no cache at ``root`` (says to run ``python -m analysis synth``).
    """
    from allensdk.core.brain_observatory_cache import BrainObservatoryCache

    study.validate_choice("source", source, study.SOURCES)
    root = Path(root).expanduser().resolve() if root is not None else config.cache_dir(source)
    if download is None:
        download = _env_download()
    if net.offline():  # RSA_OFFLINE=1 / --offline forbids every download
        download = False
    manifest = root / "manifest.json"
    if source == "synthetic":
        download = False
        if not manifest.exists():
            raise DataUnavailableError(
                f"No synthetic Brain Observatory at {root} (missing {manifest}); {SYNTH_HINT} "
                "(or call analysis.synthetic.build_synthetic_cache(root)).",
                "synthetic Brain Observatory",
                manifest,
            )
    api = local_first_api(root, source=source, download=bool(download))
    return BrainObservatoryCache(manifest_file=str(manifest), api=api)


def _root_of(boc_or_root) -> Path:
    if isinstance(boc_or_root, (str, os.PathLike)):
        p = Path(boc_or_root)
        return p.parent if p.name == "manifest.json" else p
    return Path(boc_or_root.manifest_path).parent


def cache_source(boc_or_root) -> str:
    """``"synthetic"`` or ``"allen"``, read from the cache's provenance.

    A synthetic cache says so in ``provenance.json`` (and in every record of
    ``experiment_containers.json``); anything else is the real Brain Observatory.
    """
    root = _root_of(boc_or_root)
    prov = root / "provenance.json"
    if prov.exists():
        try:
            return "synthetic" if json.loads(prov.read_text()).get("source") == "synthetic" else "allen"
        except (OSError, ValueError):
            pass
    containers = root / "experiment_containers.json"
    if containers.exists():
        try:
            records = json.loads(containers.read_text())
            if records and records[0].get("source") == "synthetic":
                return "synthetic"
        except (OSError, ValueError, AttributeError):
            pass
    return "allen"


# --------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------

#: Order of session types within a container.
_SESSION_ORDER = {st: i for i, st in enumerate(study.SESSION_TYPES)}


@dataclass(frozen=True)
class Experiment:
    """One ophys experiment (session) selected for an analysis."""

    container_id: int
    experiment_id: int
    session_type: str
    area: str
    depth: int


def select_experiments(boc, stimulus: str, area: str, depth: int, cre_line: str = study.CRE_LINE) -> list[Experiment]:
    """Experiments showing ``stimulus`` in the containers of a Cre line, area and depth.

    The original study's selection: ``get_experiment_containers(cre_lines=[cre_line],
    targeted_structures=[area], imaging_depths=[depth])`` (failed containers
    excluded), then for each container ``get_ophys_experiments(experiment_container_ids=[id],
    stimuli=[stimulus])``. Sorted by container id, session type, experiment id.

    Raises
    ------
    ValueError
        Unknown stimulus, area or Cre line (the message lists the valid values);
        no container at ``depth`` (the message lists the depths that exist for
        that Cre line and area).
    """
    study.get_stimulus(stimulus)
    study.validate_choice("area", area, study.AREAS)
    study.validate_choice("cre line", cre_line, study.CRE_LINES)
    try:
        depth = int(depth)
    except (TypeError, ValueError):
        raise ValueError(f"depth must be an integer number of microns, got {depth!r}") from None
    containers = boc.get_experiment_containers(
        cre_lines=[cre_line], targeted_structures=[area], imaging_depths=[depth]
    )
    if not containers:
        others = boc.get_experiment_containers(cre_lines=[cre_line], targeted_structures=[area])
        depths = sorted({int(c["imaging_depth"]) for c in others})
        if depths:
            raise ValueError(
                f"no experiment containers for cre line {cre_line}, area {area} at depth {depth} um; "
                f"depths with data for this cre line and area: {', '.join(map(str, depths))}"
            )
        areas = sorted({c["targeted_structure"] for c in boc.get_experiment_containers(cre_lines=[cre_line])})
        raise ValueError(
            f"no experiment containers for cre line {cre_line} in area {area} at any depth; "
            f"areas with data for this cre line: {', '.join(areas) or 'none'}"
        )
    out: list[Experiment] = []
    for c in sorted(containers, key=lambda c: c["id"]):
        for e in boc.get_ophys_experiments(experiment_container_ids=[c["id"]], stimuli=[stimulus]):
            out.append(
                Experiment(
                    container_id=int(c["id"]),
                    experiment_id=int(e["id"]),
                    session_type=str(e["session_type"]),
                    area=str(e["targeted_structure"]),
                    depth=int(e["imaging_depth"]),
                )
            )
    out.sort(key=lambda x: (x.container_id, _SESSION_ORDER.get(x.session_type, 99), x.experiment_id))
    return out


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Session:
    """One experiment's data for one stimulus.

    Attributes
    ----------
    experiment_id:
        Ophys experiment id.
    events:
        Float array ``(cells, frames)``: L0 event traces on two-photon frames.
    cell_specimen_ids:
        ``int64 (cells,)``, same order as the rows of ``events``.
    stim_table:
        DataFrame sorted by ``start`` with int columns ``frame`` (image index, -1 =
        blank; or movie frame), ``start``, ``end`` (two-photon frame indices) and,
        for movies, ``repeat``.
    """

    experiment_id: int
    events: np.ndarray
    cell_specimen_ids: np.ndarray
    stim_table: pd.DataFrame


def load_events(boc, experiment_id: int) -> np.ndarray:
    """L0 events ``(cells, frames)`` of one experiment; an error if any is NaN or infinite."""
    events = _reading(boc, experiment_id, boc.EVENTS_DATA_KEY,
                      lambda: np.asarray(boc.get_ophys_experiment_events(int(experiment_id))))
    if events.ndim != 2:
        raise ValueError(f"experiment {experiment_id}: events must be 2-D (cells, frames), got {events.shape}")
    if not np.issubdtype(events.dtype, np.floating):
        events = events.astype(np.float64)
    bad = ~np.isfinite(events)
    if bad.any():
        raise ValueError(
            f"experiment {experiment_id}: events contain NaN or inf values in "
            f"{int(bad.any(axis=1).sum())} of {events.shape[0]} cells and "
            f"{int(bad.any(axis=0).sum())} of {events.shape[1]} frames ({int(bad.sum())} values)"
        )
    return events


def load_session(boc, experiment_id: int, stimulus: str) -> Session:
    """Events, cell ids and the stimulus table of one experiment (see :class:`Session`)."""
    from allensdk.brain_observatory.brain_observatory_exceptions import MissingStimulusException

    study.get_stimulus(stimulus)
    experiment_id = int(experiment_id)
    events = load_events(boc, experiment_id)

    def read() -> tuple[Any, np.ndarray, pd.DataFrame]:
        data = boc.get_ophys_experiment_data(experiment_id)
        ids = np.asarray(data.get_cell_specimen_ids()).astype(np.int64)
        try:
            table = data.get_stimulus_table(stimulus)
        except MissingStimulusException:
            raise LookupError(
                f"experiment {experiment_id} ({data.get_session_type()}) has no {stimulus}; "
                f"its stimuli: {', '.join(data.list_stimuli())}"
            ) from None
        return data, ids, table

    try:
        data, ids, table = _reading(boc, experiment_id, boc.EXPERIMENT_DATA_KEY, read)
    except LookupError as exc:  # a readable file without the stimulus: not a damaged file
        raise ValueError(str(exc)) from None
    if len(ids) != events.shape[0]:
        raise ValueError(
            f"experiment {experiment_id}: {events.shape[0]} event traces but {len(ids)} cell specimen ids"
        )
    cols = ["frame", "start", "end"] + (["repeat"] if "repeat" in table.columns else [])
    table = table[cols].astype(np.int64).sort_values(["start", "end"], kind="stable").reset_index(drop=True)
    if len(table) and (table["start"].min() < 0 or table["end"].max() >= events.shape[1]):
        raise ValueError(
            f"experiment {experiment_id}: {stimulus} table spans frames {table['start'].min()}-"
            f"{table['end'].max()} but the events have {events.shape[1]} frames"
        )
    return Session(experiment_id=experiment_id, events=events, cell_specimen_ids=ids, stim_table=table)


def template_experiment(boc, stimulus: str) -> int:
    """Experiment whose NWB file holds ``stimulus``'s template.

    The stimulus record's ``template_experiment`` (the original study read the scenes and
    Natural Movie One from session B experiment 501498760), else the lowest experiment id
    among those showing the stimulus (every such file holds the same template).
    """
    stim = study.get_stimulus(stimulus)
    if stim.template_experiment is not None:
        return int(stim.template_experiment)
    ids = sorted(int(e["id"]) for e in boc.get_ophys_experiments(stimuli=[stimulus]))
    if not ids:
        raise ValueError(f"no experiment of this Brain Observatory shows {stimulus}; "
                         f"it is shown in the sessions {', '.join(stim.sessions)}")
    return ids[0]


def load_template(boc, stimulus: str, experiment_id: int | None = None) -> np.ndarray:
    """Stimulus template ``uint8 (frames, height, width)`` (scenes ``(118, 918, 1174)``, a
    30-s movie ``(900, 304, 608)`` in the real survey), from :func:`template_experiment`."""
    stim = study.get_stimulus(stimulus)
    experiment_id = template_experiment(boc, stimulus) if experiment_id is None else int(experiment_id)
    data = _reading(boc, experiment_id, boc.EXPERIMENT_DATA_KEY, lambda: boc.get_ophys_experiment_data(experiment_id))
    try:
        template = data.get_stimulus_template(stimulus)
    except KeyError:
        raise ValueError(
            f"experiment {experiment_id} has no {stimulus} template in {data.nwb_file}; its template "
            f"is read from experiment {template_experiment(boc, stimulus)} (one of the sessions "
            f"{', '.join(stim.sessions)})"
        ) from None
    return np.asarray(template, dtype=np.uint8)


# --------------------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------------------



def experiment_fingerprint(boc, experiment_id: int) -> str:
    """SHA-256 over the content of an experiment's events and NWB files.

    Missing files are obtained through the cache first (downloaded when allowed,
    else :class:`DataUnavailableError`).
    """
    nwb_path, events_path = experiment_files(boc, int(experiment_id))
    h = hashlib.sha256()
    for name, p in (("events", events_path), ("nwb", nwb_path)):
        h.update(f"{name}:{cache.file_digest(p)}\n".encode())
    return h.hexdigest()
