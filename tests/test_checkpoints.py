"""Manifest, locating/verifying and the restricted unpickler of the checkpoints."""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import re
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from analysis import checkpoints as C
from analysis import config

from conftest import NO_CHECKPOINTS, checkpoint_paths

CKPTS = checkpoint_paths() or {}
needs_checkpoints = pytest.mark.skipif(not CKPTS, reason=NO_CHECKPOINTS)


# --------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------


def test_manifest_has_ten_entries_five_per_species():
    entries = C.load_manifest()
    assert len(entries) == 10
    assert [e.seed for e in entries if e.species == "rat"] == [1, 2, 3, 4, 5]
    assert [e.seed for e in entries if e.species == "treeshrew"] == [1, 2, 3, 4, 5]
    for e in entries:
        assert e.url == f"https://github.com/brainhack-school2024/crijnen_project/raw/f4f8d28/models/{e.name}"


@needs_checkpoints
def test_manifest_matches_source_md():
    source = CKPTS["rat1.ckpt"].parent / "SOURCE.md"  # the provenance note beside the files, where present
    if not source.is_file():
        pytest.skip(f"no SOURCE.md beside the checkpoints ({source})")
    rows = re.findall(r"^\| (\S+\.ckpt) \| (\w+) \| (\d+) \| ([0-9a-f]{64}) \|$", source.read_text(), re.M)
    assert len(rows) == 10
    expected = {(n, s, int(seed), h) for n, s, seed, h in rows}
    assert {(e.name, e.species, e.seed, e.sha256) for e in C.load_manifest()} == expected


def test_select_checkpoints_and_validation():
    assert [e.name for e in C.select_checkpoints(species="rat")] == [f"rat{i}.ckpt" for i in range(1, 6)]
    assert [e.name for e in C.select_checkpoints(names=["ts2", "rat1.ckpt"])] == ["rat1.ckpt", "ts2.ckpt"]
    assert C.select_checkpoints(species="treeshrew", names=["rat1"]) == []
    with pytest.raises(ValueError, match="valid species values: rat, treeshrew"):
        C.select_checkpoints(species="mouse")
    with pytest.raises(ValueError, match=r"unknown checkpoint 'rat9'.*rat1\.ckpt.*ts5\.ckpt"):
        C.select_checkpoints(names=["rat9"])
    assert C.get_entry("ts3").seed == 3


# --------------------------------------------------------------------------------------
# Locating and verifying
# --------------------------------------------------------------------------------------


@needs_checkpoints
def test_locate_finds_all_ten():
    for e in C.load_manifest():
        p = C.locate(e)
        assert p.name == e.name and C.file_sha256(p) == e.sha256


@needs_checkpoints
def test_rsa_checkpoints_is_searched_first(monkeypatch, tmp_path):
    e = C.get_entry("rat2")
    shutil.copy(CKPTS[e.name], tmp_path / e.name)
    monkeypatch.setenv("RSA_CHECKPOINTS", str(tmp_path))
    assert C.locate(e) == tmp_path / e.name


def test_missing_folder_error(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("RSA_CHECKPOINTS", str(missing))
    e = C.get_entry("rat1")
    with pytest.raises(C.CheckpointError) as err:
        C.locate(e)
    msg = str(err.value)
    assert str(missing) in msg and "not an existing folder" in msg
    assert e.name in msg and e.sha256 in msg and e.url in msg and "RSA_OFFLINE" in msg


def test_missing_file_error(monkeypatch, tmp_path):
    monkeypatch.setenv("RSA_CHECKPOINTS", str(tmp_path))
    ghost = C.CheckpointEntry("ghost.ckpt", "rat", 9, "0" * 64, "https://example.invalid/ghost.ckpt")
    with pytest.raises(C.CheckpointError) as err:
        C.locate(ghost)
    msg = str(err.value)
    assert "ghost.ckpt" in msg and "0" * 64 in msg and "not found" in msg
    assert str(tmp_path) in msg and str(config.PROJECT_ROOT / "checkpoints") in msg  # where it looked
    assert "RSA_CHECKPOINTS" in msg and "https://example.invalid/ghost.ckpt" in msg


def test_wrong_hash_error(monkeypatch, tmp_path):
    e = C.get_entry("ts1")
    (tmp_path / e.name).write_bytes(b"not the checkpoint")
    monkeypatch.setenv("RSA_CHECKPOINTS", str(tmp_path))
    with pytest.raises(C.CheckpointError) as err:
        C.locate(e)
    msg = str(err.value)
    actual = hashlib.sha256(b"not the checkpoint").hexdigest()
    assert str(tmp_path / e.name) in msg and e.sha256 in msg and actual in msg
    assert "expects" in msg and e.url in msg


def test_hash_memo_tracks_file_changes(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"one")
    assert C.file_sha256(f) == hashlib.sha256(b"one").hexdigest()
    f.write_bytes(b"two!")  # new size (and mtime) -> new key
    assert C.file_sha256(f) == hashlib.sha256(b"two!").hexdigest()


# --------------------------------------------------------------------------------------
# Safe loading of the real files
# --------------------------------------------------------------------------------------


@needs_checkpoints
def test_safe_load_real_checkpoint_plain_data():
    ck = C.safe_load_checkpoint(CKPTS["rat1.ckpt"])
    assert ck["pytorch-lightning_version"] == "2.1.1"
    assert len(ck["state_dict"]) == 252
    w = ck["state_dict"]["network.backbone.s1.conv1.weight"]
    assert w.shape == (32, 3, 5, 7, 7) and w.dtype == torch.float32 and w.device.type == "cpu"
    assert ck["state_dict"]["network.backbone.s1.bn1.num_batches_tracked"].dtype == torch.int64
    hp = ck["hyper_parameters"]
    assert type(hp) is dict and type(hp["network"]) is dict  # omegaconf -> plain dicts
    assert hp["network"]["backbone"] == {"_target_": "dpc.models.components.visualnet.VisualNet",
                                         "num_res_blocks": 6, "num_paths": 2}
    assert hp["network"]["targets"] == {"cpc": [0], "motion": [1]}
    assert "omegaconf" not in sys.modules


@needs_checkpoints
@pytest.mark.parametrize("entry", C.load_manifest(), ids=lambda e: e.stem)
def test_backbone_state_and_normalisation_all_ten(entry):
    state, hparams = C.load_backbone_state(entry)
    # s1: 1 conv + 5 bn; per pathway: res0 24 (incl. branch1) + 5 x 18 -> 6 + 2 * 114
    assert len(state) == 234
    assert not any(k.startswith("network.") for k in state)
    assert state["s1.conv1.weight"].shape == (32, 3, 5, 7, 7)
    mean, std = C.normalisation(entry)
    doc_mean, doc_std = C.DOCUMENTED_NORMALISATION[entry.species]
    assert mean == pytest.approx(doc_mean, abs=1e-7) and std == pytest.approx(doc_std, abs=1e-7)
    assert hparams["network"]["backbone"]["num_res_blocks"] == 6


@needs_checkpoints
def test_load_backbone_state_returns_independent_copies():
    a, _ = C.load_backbone_state(CKPTS["ts2.ckpt"])
    a["s1.conv1.weight"].zero_()
    b, _ = C.load_backbone_state(CKPTS["ts2.ckpt"])
    assert b["s1.conv1.weight"].abs().sum() > 0


# --------------------------------------------------------------------------------------
# Malicious / malformed files are refused and never executed
# --------------------------------------------------------------------------------------


def _zip_with_pickle(path: Path, payload: bytes, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")
        for k, v in (extra or {}).items():
            z.writestr(k, v)
    return path


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def _payloads(marker: Path) -> dict[str, bytes]:
    py = f"open({str(marker)!r}, 'w').write('pwned')"
    cmd = f"touch {marker}"
    import subprocess

    return {
        "os.system": pickle.dumps({"state_dict": _Evil(os.system, cmd)}, protocol=2),
        "builtins.exec": pickle.dumps({"state_dict": _Evil(exec, py)}, protocol=2),
        "builtins.eval": pickle.dumps(_Evil(eval, py), protocol=4),
        "subprocess.Popen": pickle.dumps(_Evil(subprocess.Popen, ["touch", str(marker)]), protocol=2),
        "functools.partial": pickle.dumps(functools.partial(exec, py), protocol=2),
        # protocol-0 INST opcode calling os.system
        "INST": b"(S'" + cmd.encode() + b"'\nios\nsystem\n.",
        # a global smuggled inside an otherwise plausible state dict
        "nested": pickle.dumps({"state_dict": {"w": torch.zeros(1).numpy().tolist(), "x": _Evil(os.system, cmd)}},
                               protocol=2),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.exec", "builtins.eval", "subprocess.Popen",
                                  "functools.partial", "INST", "nested"])
def test_malicious_pickle_is_refused_and_never_runs(kind, tmp_path, monkeypatch):
    marker = tmp_path / "MARKER"
    payload = _payloads(marker)[kind]
    slot = tmp_path / "slot"
    slot.mkdir()
    bad = _zip_with_pickle(slot / "rat1.ckpt", payload)
    with pytest.raises(C.UnsafeCheckpointError) as err:
        C.safe_load_checkpoint(bad)
    msg = str(err.value)
    assert str(bad) in msg and "refusing" in msg
    if kind in ("os.system", "nested"):
        assert re.search(r"(posix|os|nt)\.system", msg)
    elif kind in ("builtins.exec", "builtins.eval", "subprocess.Popen", "functools.partial"):
        assert kind in msg
    with pytest.raises(C.UnsafeCheckpointError):
        C.load_backbone_state(bad)
    # In a checkpoint slot the hash check refuses it before any unpickling happens.
    monkeypatch.setenv("RSA_CHECKPOINTS", str(slot))
    with pytest.raises(C.CheckpointError, match="sha256"):
        C.locate(C.get_entry("rat1"))
    assert not marker.exists()


def test_refused_global_names_global_and_file(tmp_path):
    payload = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    bad = _zip_with_pickle(tmp_path / "x.ckpt", payload)
    with pytest.raises(C.UnsafeCheckpointError, match=r"the global posix\.system") as err:
        C.safe_load_checkpoint(bad)
    assert str(bad) in str(err.value)


def test_inert_standins_run_no_code(tmp_path, monkeypatch):
    """omegaconf names map to inert records, even when NEWOBJ/BUILD/REDUCE target them."""
    import types

    ran = []

    class DictConfig:
        def __init__(self, *args):
            self.args = args

        def __setstate__(self, state):  # must never run on load
            ran.append("setstate")
            self.__dict__.update(state)

    class Weird:
        def __reduce__(self):
            return (DictConfig, ("args",))

    DictConfig.__module__, DictConfig.__qualname__ = "omegaconf.dictconfig", "DictConfig"
    for name in ("omegaconf", "omegaconf.dictconfig"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    sys.modules["omegaconf.dictconfig"].DictConfig = DictConfig
    cfg = DictConfig.__new__(DictConfig)
    cfg.__dict__.update({"_content": {"k": 5}, "_parent": None})
    payload = pickle.dumps({"a": cfg, "b": Weird()}, protocol=2)
    monkeypatch.delitem(sys.modules, "omegaconf.dictconfig")
    monkeypatch.delitem(sys.modules, "omegaconf")
    ran.clear()
    out = C.safe_load_checkpoint(_zip_with_pickle(tmp_path / "ok.ckpt", payload))
    assert out["a"] == {"k": 5}
    assert out["b"] is None or out["b"] == {"__inert__": "omegaconf.dictconfig.DictConfig", "state": None}
    assert ran == [] and "omegaconf" not in sys.modules


def test_unknown_omegaconf_name_and_build_on_foreign_objects_refused(tmp_path):
    p1 = b"\x80\x02comegaconf.omegaconf\nOmegaConf\nq\x00."
    with pytest.raises(C.UnsafeCheckpointError, match="omegaconf.omegaconf.OmegaConf"):
        C.safe_load_checkpoint(_zip_with_pickle(tmp_path / "a.ckpt", p1))
    # BUILD trying to set __class__ on an OrderedDict
    p2 = b"\x80\x02ccollections\nOrderedDict\n)R}X\t\x00\x00\x00__class__K\x01sb."
    with pytest.raises(C.UnsafeCheckpointError, match="__class__"):
        C.safe_load_checkpoint(_zip_with_pickle(tmp_path / "b.ckpt", p2))
    # BUILD on a plain list
    p3 = b"\x80\x02]}X\x01\x00\x00\x00aK\x01sb."
    with pytest.raises(C.UnsafeCheckpointError, match="BUILD"):
        C.safe_load_checkpoint(_zip_with_pickle(tmp_path / "c.ckpt", p3))


def _raw_tensor_pickle(key: str, numel: int, size: tuple, stride: tuple, offset: int = 0) -> bytes:
    def tup(vals):
        return b"(" + b"".join(b"J" + int(v).to_bytes(4, "little", signed=True) for v in vals) + b"t"

    return (
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n("
        + b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX" + len(key).to_bytes(4, "little") + key.encode()
        + b"X\x03\x00\x00\x00cpuJ" + numel.to_bytes(4, "little") + b"tQ"
        + b"J" + offset.to_bytes(4, "little") + tup(size) + tup(stride) + b"\x89ccollections\nOrderedDict\n)R"
        + b"tR."
    )


def test_tensor_rebuild_roundtrip_and_bounds(tmp_path):
    data = torch.arange(6, dtype=torch.float32)
    raw = data.numpy().tobytes()
    ok = _zip_with_pickle(tmp_path / "t.ckpt", b"\x80\x02}X\x01\x00\x00\x00t" + _raw_tensor_pickle("0", 6, (2, 3), (3, 1))[2:-1] + b"s.",
                          {"archive/data/0": raw})
    t = C.safe_load_checkpoint(ok)["t"]
    assert torch.equal(t, data.view(2, 3))
    # a view reaching past its storage is refused instead of reading foreign memory
    bad = _zip_with_pickle(tmp_path / "u.ckpt", b"\x80\x02}X\x01\x00\x00\x00t" + _raw_tensor_pickle("0", 6, (2, 3), (30, 1))[2:-1] + b"s.",
                           {"archive/data/0": raw})
    with pytest.raises(C.CheckpointError, match="not dense"):
        C.safe_load_checkpoint(bad)
    # a storage key that tries to leave the archive folder
    esc = _zip_with_pickle(tmp_path / "v.ckpt", _raw_tensor_pickle("../x", 6, (6,), (1,)), {"archive/data/0": raw})
    with pytest.raises(C.CheckpointError, match="bad storage key"):
        C.safe_load_checkpoint(esc)


def test_not_a_zip_is_a_clear_error(tmp_path):
    f = tmp_path / "plain.ckpt"
    f.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(C.CheckpointError, match="not a readable torch zip checkpoint"):
        C.safe_load_checkpoint(f)
