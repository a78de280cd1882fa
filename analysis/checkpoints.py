"""The ten network checkpoints: manifest, locating, verifying and *safely* loading them.

The checkpoints are PyTorch-Lightning 2.1.1 ``torch.save`` zip archives whose pickle
holds omegaconf containers besides tensors; they are read without running any pickled
code by :func:`analysis.unpickle.safe_load_checkpoint` (the restricted unpickler; its
names, and the errors :class:`CheckpointError` / :class:`UnsafeCheckpointError`, are
re-exported here).

Locating: :func:`locate` searches :func:`analysis.config.checkpoint_search_dirs` in order
and verifies the SHA-256 from the committed manifest (``checkpoints/manifest.json``),
hashing the file's bytes every time (no memo that a same-size edit with a restored mtime
could fool). Loading a manifest entry (:func:`load_backbone_state`) reads the file into
memory once, checks the SHA-256 of *those* bytes against the manifest and parses the same
bytes (:func:`read_verified`), so the cache keys and the provenance, which record the
manifest's SHA-256, always describe the bytes that were computed with.

Downloads. A checkpoint found in no search folder is downloaded by default from its
manifest address with pooch (SHA-256 verified, progress bar on a terminal only) into the
project's git-ignored ``checkpoints/`` folder; pooch writes to a temporary file there and
moves it into place only when the hash matches, so a broken transfer or a wrong file
leaves nothing behind. ``RSA_OFFLINE=1`` (CLI: ``--offline``) forbids downloads: a missing
file is then an error at once. Timeouts and retries: :mod:`analysis.net`.
``RSA_CHECKPOINT_BASE_URL`` replaces the folder of every manifest address (``<base>/<name>``):
for a mirror, and how the tests serve the files from a local HTTP server.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch

from . import cache, config, net, study
from .unpickle import (MAX_NESTING, CheckpointError, GlobalRef, InertObject,  # noqa: F401 (re-exported)
                       UnsafeCheckpointError, read_verified, safe_load_checkpoint)

__all__ = [
    "CheckpointEntry",
    "CheckpointError",
    "UnsafeCheckpointError",
    "BACKBONE_PREFIX",
    "DOCUMENTED_NORMALISATION",
    "load_manifest",
    "select_checkpoints",
    "get_entry",
    "file_sha256",
    "read_verified",
    "locate",
    "locate_all",
    "safe_load_checkpoint",
    "load_backbone_state",
    "normalisation",
]

#: Prefix of the backbone's keys in a checkpoint's ``state_dict``.
BACKBONE_PREFIX = "network.backbone."

#: Per-channel RGB normalisation documented in the checkpoint-format reference notes
#: (the files are the authority; a test cross-checks them against these values).
DOCUMENTED_NORMALISATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "rat": ((0.49920708, 0.49748874, 0.4927631), (0.23793374, 0.22914743, 0.24540132)),
    "treeshrew": ((0.4809272, 0.48594147, 0.49012005), (0.23805764, 0.23504333, 0.2473949)),
}


# --------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointEntry:
    """One row of the manifest.

    ``name`` is the file name (``rat1.ckpt``), ``species`` one of
    :data:`analysis.study.SPECIES`, ``seed`` the training seed (1-5), ``sha256`` the hex
    digest of the file, ``url`` a public download address.
    """

    name: str
    species: str
    seed: int
    sha256: str
    url: str

    @property
    def stem(self) -> str:
        """The name without ``.ckpt`` (``rat1``)."""
        return self.name[:-5] if self.name.endswith(".ckpt") else self.name


def load_manifest(path: Path | None = None) -> list[CheckpointEntry]:
    """The entries of ``checkpoints/manifest.json`` (or ``path``), in file order."""
    path = Path(path) if path is not None else config.checkpoint_manifest_path()
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint manifest {path} is missing") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint manifest {path} is not valid JSON: {exc}") from None
    rows = raw["checkpoints"] if isinstance(raw, dict) else raw
    entries = []
    for row in rows:
        entry = CheckpointEntry(
            name=str(row["name"]),
            species=str(row["species"]),
            seed=int(row["seed"]),
            sha256=str(row["sha256"]).lower(),
            url=str(row["url"]),
        )
        study.validate_choice("species", entry.species, study.SPECIES)
        if len(entry.sha256) != 64 or any(c not in "0123456789abcdef" for c in entry.sha256):
            raise CheckpointError(f"manifest {path}: bad sha256 {entry.sha256!r} for {entry.name}")
        entries.append(entry)
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise CheckpointError(f"manifest {path} lists a checkpoint name twice: {names}")
    return entries


def select_checkpoints(
    species: str | Sequence[str] | None = None,
    names: Iterable[str] | None = None,
) -> list[CheckpointEntry]:
    """Manifest entries filtered by species and/or file names (manifest order kept).

    ``species`` is one name or a sequence of names from :data:`analysis.study.SPECIES`;
    ``names`` are file names (``rat1.ckpt``) or stems (``rat1``). Unknown values raise a
    ValueError listing the valid ones.
    """
    all_entries = load_manifest()
    entries = list(all_entries)
    if species is not None:
        wanted = [species] if isinstance(species, str) else list(species)
        study.validate_choices("species", wanted, study.SPECIES)
        entries = [e for e in entries if e.species in wanted]
    if names is not None:
        names = [names] if isinstance(names, str) else list(names)
        valid = {e.name: e for e in all_entries} | {e.stem: e for e in all_entries}
        listed = [e.name for e in all_entries]
        for n in names:
            if n not in valid:
                raise ValueError(f"unknown checkpoint {n!r}; valid checkpoint names: {', '.join(listed)}")
        wanted_names = {valid[n].name for n in names}
        entries = [e for e in entries if e.name in wanted_names]
    return entries


def get_entry(name: str) -> CheckpointEntry:
    """The manifest entry of one file name or stem (``rat1.ckpt`` or ``rat1``)."""
    return select_checkpoints(names=[name])[0]


# --------------------------------------------------------------------------------------
# Locating and verifying
# --------------------------------------------------------------------------------------


def file_sha256(path: Path | str) -> str:
    """SHA-256 of a file's bytes, read now (never memoised)."""
    return cache.hash_file(Path(path))


def downloads_allowed(download: bool | None = None) -> bool:
    """Whether a missing checkpoint may be downloaded: ``download`` (default: yes), never offline."""
    return (True if download is None else bool(download)) and not net.offline()


def entry_url(entry: CheckpointEntry) -> str:
    """Download address of ``entry``: the manifest's, or ``$RSA_CHECKPOINT_BASE_URL/<name>``."""
    base = os.environ.get("RSA_CHECKPOINT_BASE_URL", "").strip()
    return f"{base.rstrip('/')}/{entry.name}" if base else entry.url


def _what_to_do(entry: CheckpointEntry) -> str:
    how = (
        "To fix: set RSA_CHECKPOINTS to a folder holding the verified file, or copy "
        f"{entry.name} into {config.PROJECT_ROOT / 'checkpoints'}, or, where the network is "
        f"reachable, let it be downloaded from {entry_url(entry)} (the default"
    )
    if net.offline():
        return how + "; the offline switch RSA_OFFLINE=1 / --offline is set: unset it to download)"
    return how + "; RSA_OFFLINE=1 / --offline forbids it)"


def locate(
    entry: CheckpointEntry,
    download: bool | None = None,
    *,
    search_dirs: Sequence[Path] | None = None,
    download_dir: Path | None = None,
) -> Path:
    """Path of a verified copy of ``entry``'s file.

    Searches ``search_dirs`` (default :func:`analysis.config.checkpoint_search_dirs`:
    ``$RSA_CHECKPOINTS``, then the project's ``checkpoints/``) in order; the first file with
    the right name must have the manifest's SHA-256 (hashed from its bytes now). When none
    is found it is downloaded with pooch into ``download_dir`` (default the project's
    ``checkpoints/``), which verifies the hash, unless ``download`` is False or
    ``RSA_OFFLINE=1``. ``download=None`` (the default) means "download unless offline".

    Raises
    ------
    CheckpointError
        ``$RSA_CHECKPOINTS`` names a missing folder; the file is nowhere (and downloads are
        off or failed); or the file found has the wrong hash. The message names the file,
        the expected SHA-256, the folders searched and what to do.
    """
    dirs = [Path(d) for d in (search_dirs if search_dirs is not None else config.checkpoint_search_dirs())]
    searched = ", ".join(str(d) for d in dirs) or "(no folders)"
    env = os.environ.get("RSA_CHECKPOINTS")
    if search_dirs is None and env:
        env_dir = Path(env).expanduser().resolve()
        if not env_dir.is_dir():
            raise CheckpointError(
                f"RSA_CHECKPOINTS={env} is not an existing folder, so {entry.name} "
                f"(sha256 {entry.sha256}) cannot be looked up there. Folders searched: {searched}. "
                "Point RSA_CHECKPOINTS at the folder holding the checkpoints or unset it. "
                + _what_to_do(entry)
            )
    for d in dirs:
        candidate = d / entry.name
        if candidate.is_file():
            actual = file_sha256(candidate)
            if actual != entry.sha256:
                raise CheckpointError(
                    f"checkpoint {candidate} has sha256 {actual}, but the manifest expects "
                    f"{entry.sha256} for {entry.name}: the file is damaged, truncated or a "
                    f"different file. Folders searched: {searched}. Replace or delete it. "
                    + _what_to_do(entry)
                )
            return candidate
    if downloads_allowed(download):
        return _download(entry, Path(download_dir) if download_dir else config.PROJECT_ROOT / "checkpoints", searched)
    raise CheckpointError(
        f"checkpoint {entry.name} (sha256 {entry.sha256}) was not found. Folders searched: "
        f"{searched}. " + _what_to_do(entry)
    )


def locate_all(entries: Sequence[CheckpointEntry], download: bool | None = None) -> list[Path]:
    """:func:`locate` every entry, checking first that none is missing where downloads are off.

    Offline (``RSA_OFFLINE=1``, or ``download=False``) one error names *all* missing
    checkpoints at once, before anything is downloaded or computed.
    """
    entries = list(entries)
    if not downloads_allowed(download):
        dirs = list(config.checkpoint_search_dirs())
        missing = [e for e in entries if not any((d / e.name).is_file() for d in dirs)]
        env = os.environ.get("RSA_CHECKPOINTS")
        if missing and env and not Path(env).expanduser().is_dir():
            locate(missing[0], download)  # raises: RSA_CHECKPOINTS names no folder
        if missing:
            why = ("the offline switch RSA_OFFLINE=1 / --offline is set" if net.offline()
                   else "downloads are disabled")
            raise CheckpointError(
                f"{len(missing)} of {len(entries)} checkpoints are missing and {why}: "
                f"{', '.join(e.name for e in missing)}. Folders searched: "
                f"{', '.join(str(d) for d in dirs)}. To fix: set RSA_CHECKPOINTS to a folder holding "
                f"them, copy them into {config.PROJECT_ROOT / 'checkpoints'}, or unset RSA_OFFLINE "
                "(drop --offline) where the network is reachable so that they are downloaded "
                "(addresses and SHA-256 in checkpoints/manifest.json)."
            )
    return [locate(e, download) for e in entries]


def _download(entry: CheckpointEntry, folder: Path, searched: str) -> Path:
    import sys

    import pooch  # imported lazily: only needed where downloads happen

    url = entry_url(entry)
    folder.mkdir(parents=True, exist_ok=True)
    t = net.timeout()
    downloader = pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), timeout=(t, t))

    def attempt() -> str:
        return pooch.retrieve(url=url, known_hash=f"sha256:{entry.sha256}", fname=entry.name, path=folder,
                              downloader=downloader)

    try:
        fetched = net.with_retries(attempt, url, f"checkpoint {entry.name}", folder / entry.name)
    except net.NetworkError as exc:
        raise CheckpointError(
            f"checkpoint {entry.name} (sha256 {entry.sha256}) was not found in {searched} and {exc} "
            "Nothing was left in " + str(folder) + ". " + _what_to_do(entry)
        ) from None
    except ValueError as exc:  # pooch: hash mismatch (the download was deleted)
        got = re.search(r"but got ([0-9a-f]{64})", str(exc))
        raise CheckpointError(
            f"downloading checkpoint {entry.name} from {url} into {folder} gave a file with sha256 "
            f"{got.group(1) if got else '(unknown)'}, but the manifest expects {entry.sha256}; the "
            "download was deleted (nothing was left). The address serves a different or damaged "
            "file: check it, or obtain a verified copy. " + _what_to_do(entry)
        ) from None
    except Exception as exc:  # noqa: BLE001 - anything else pooch or requests raise
        raise CheckpointError(
            f"checkpoint {entry.name} (sha256 {entry.sha256}) was not found in {searched} and "
            f"downloading it from {url} into {folder} failed: {type(exc).__name__}: {exc}. "
            + _what_to_do(entry)
        ) from None
    path = Path(fetched)
    actual = file_sha256(path)
    if actual != entry.sha256:  # belt and braces; pooch already checked
        path.unlink(missing_ok=True)
        raise CheckpointError(f"downloaded {path} has sha256 {actual}, not {entry.sha256}; deleted it")
    return path


# --------------------------------------------------------------------------------------
# What the analysis needs from a checkpoint
# --------------------------------------------------------------------------------------

_STATE_MEMO: dict[str, tuple[dict[str, torch.Tensor], dict[str, Any]]] = {}


def _resolve(entry_or_path: CheckpointEntry | Path | str) -> tuple[Path, bytes, str]:
    """``(path, bytes, sha256)``: an entry is located, then read once and verified against the
    manifest; a path is read once as it is (the caller vouches for it)."""
    if isinstance(entry_or_path, CheckpointEntry):
        path = locate(entry_or_path)
        data, digest = read_verified(path, entry_or_path.sha256)
        return path, data, digest
    path = Path(entry_or_path)
    data, digest = read_verified(path)
    return path, data, digest


def load_backbone_state(
    entry_or_path: CheckpointEntry | Path | str,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The backbone's tensors and the hyper-parameters of one checkpoint.

    Returns ``(state, hparams)``: ``state`` maps backbone keys with ``network.backbone.``
    stripped (``s1.conv1.weight``, ``path0.res_blocks.res0.branch1.weight``, ...) to CPU
    tensors (fresh clones on each call); ``hparams`` is the file's ``hyper_parameters`` as
    plain data (``hparams["mean"]`` / ``hparams["std"]``: 3 floats each;
    ``hparams["network"]["backbone"]``: ``num_res_blocks``, ``num_paths``). A
    :class:`CheckpointEntry` is located, then its bytes are read once, verified against the
    manifest's SHA-256 and parsed (the SHA-256 the caches and the provenance record is that
    of the bytes computed with). Parsed results are memoised by the SHA-256 of the bytes
    just read, so the memo can only ever return the content of those bytes.
    """
    path, data, digest = _resolve(entry_or_path)
    cached = _STATE_MEMO.get(digest)
    if cached is None:
        ckpt = safe_load_checkpoint(path, data=data)
        sd = ckpt.get("state_dict")
        if not isinstance(sd, Mapping):
            raise CheckpointError(f"{path}: no state_dict in the checkpoint")
        state = {k[len(BACKBONE_PREFIX):]: v for k, v in sd.items() if k.startswith(BACKBONE_PREFIX)}
        if not state:
            raise CheckpointError(f"{path}: the state_dict has no {BACKBONE_PREFIX}* tensors")
        hparams = ckpt.get("hyper_parameters") or {}
        cached = (state, hparams)
        _STATE_MEMO[digest] = cached
    state, hparams = cached
    return {k: v.clone() for k, v in state.items()}, json.loads(json.dumps(hparams, default=str))


def _find_key(tree: Any, key: str) -> Any:
    if isinstance(tree, Mapping):
        if key in tree:
            return tree[key]
        for v in tree.values():
            found = _find_key(v, key)
            if found is not None:
                return found
    return None


def normalisation(entry_or_path: CheckpointEntry | Path | str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel RGB ``(mean[3], std[3])`` the network was trained with, read from the file."""
    _, hparams = load_backbone_state(entry_or_path)
    # Stored at the top level of hyper_parameters (and again in the datamodule's).
    mean = hparams.get("mean") if isinstance(hparams, Mapping) else None
    std = hparams.get("std") if isinstance(hparams, Mapping) else None
    if mean is None or std is None:
        mean, std = _find_key(hparams, "mean"), _find_key(hparams, "std")
    try:
        mean_t = tuple(float(v) for v in mean)
        std_t = tuple(float(v) for v in std)
    except TypeError:
        raise CheckpointError(f"{entry_or_path}: no mean/std in the hyper-parameters") from None
    if len(mean_t) != 3 or len(std_t) != 3 or min(std_t) <= 0:
        raise CheckpointError(f"{entry_or_path}: bad normalisation mean={mean_t} std={std_t}")
    return mean_t, std_t
