"""Trust nothing on disk or on the wire: tampered checkpoints, malicious archives, downloads, hangs.

* A checkpoint edited in place (same size, mtime restored) is refused by ``locate``, by
  the loader and by the ``checkpoints`` command, and leaves nothing in the cache.
* The restricted loader refuses stride-0 / overlapping / partial tensor views, compressed
  (zip-bomb) members and deeply nested pickles, before allocating.
* Checkpoint downloads (pooch, SHA-256) from a local HTTP server on 127.0.0.1: good file,
  truncated transfer, wrong hash; offline, one error names every missing file.
  The manifest's addresses are redirected with ``RSA_CHECKPOINT_BASE_URL``.
* A server that accepts connections and never answers ends in a NetworkError within
  ``RSA_NET_TIMEOUT`` x attempts, not a hang.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import pickle
import shutil
import socket
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from analysis import checkpoints as C
from analysis import features, net
from analysis.cli import main
from conftest import NO_CHECKPOINTS, checkpoint_paths

CKPTS = checkpoint_paths() or {}
needs_checkpoints = pytest.mark.skipif(not CKPTS, reason=NO_CHECKPOINTS)


# --------------------------------------------------------------------------------------
# Tampering in place
# --------------------------------------------------------------------------------------


def _tamper_member_in_place(path: Path, member_size: int) -> str:
    """Change bytes of the first stored member of ``member_size`` bytes, keeping the file's size.

    The member's CRC-32 is fixed in the central directory (and the local header), so the
    archive stays valid: only a content hash can tell. Returns the member's name.
    """
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.file_size == member_size and "/data/" in i.filename)
        start_dir = zf.start_dir
    buf = bytearray(path.read_bytes())
    off = info.header_offset
    n, m = int.from_bytes(buf[off + 26:off + 28], "little"), int.from_bytes(buf[off + 28:off + 30], "little")
    data_at = off + 30 + n + m
    w = np.frombuffer(bytes(buf[data_at:data_at + member_size]), dtype=np.float32).copy()
    w[: w.size // 2] *= -3.0  # a very different first layer
    buf[data_at:data_at + member_size] = w.tobytes()
    crc = zipfile.crc32(w.tobytes()).to_bytes(4, "little")
    if int.from_bytes(buf[off + 14:off + 18], "little"):
        buf[off + 14:off + 18] = crc
    pos = start_dir
    while buf[pos:pos + 4] == b"PK\x01\x02":
        n, m, k = (int.from_bytes(buf[pos + a:pos + a + 2], "little") for a in (28, 30, 32))
        if buf[pos + 46:pos + 46 + n].decode() == info.filename:
            buf[pos + 16:pos + 20] = crc
            break
        pos += 46 + n + m + k
    else:
        raise AssertionError("central directory entry not found")
    with open(path, "r+b") as f:  # in place: same inode, same size
        f.write(bytes(buf))
    return info.filename


@needs_checkpoints
def test_tampered_checkpoint_same_size_restored_mtime_is_refused(tmp_path, monkeypatch, isolated_env, capsys):
    """Issue "Trust nothing on disk", item 1. Failed on commit b3f52b6 (the stat-keyed memo said ok)."""
    slot = tmp_path / "slot"
    slot.mkdir()
    for name, path in CKPTS.items():  # rat1 is a real copy, the other nine link to the verified files
        if name == "rat1.ckpt":
            shutil.copy(path, slot / name)
        else:
            (slot / name).symlink_to(path)
    monkeypatch.setenv("RSA_CHECKPOINTS", str(slot))
    e = C.get_entry("rat1")
    target = slot / e.name
    assert C.locate(e) == target  # verified once (the old code memoised this hash)
    clips = torch.rand(2, 3, 15, 64, 64, generator=torch.Generator().manual_seed(0))

    st = target.stat()
    genuine = target.read_bytes()
    _tamper_member_in_place(target, 32 * 3 * 5 * 7 * 7 * 4)  # s1.conv1.weight
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert hashlib.sha256(target.read_bytes()).hexdigest() != e.sha256
    tampered = C.safe_load_checkpoint(target)["state_dict"]["network.backbone.s1.conv1.weight"]
    assert not torch.equal(tampered, C.safe_load_checkpoint(CKPTS[e.name])["state_dict"]
                           ["network.backbone.s1.conv1.weight"])  # the edit matters

    with pytest.raises(C.CheckpointError, match=e.sha256):
        C.locate(e)
    with pytest.raises(C.CheckpointError, match="sha256"):
        C.load_backbone_state(e)
    with pytest.raises(C.CheckpointError, match="sha256"):
        features.checkpoint_features(e, clips, "tamper-test", layers=["s1"])
    assert not list((isolated_env["RSA_CACHE"]).rglob("*.npz"))  # nothing was computed or cached
    assert main(["checkpoints"]) == 2
    captured = capsys.readouterr()
    assert " ok " not in captured.out and str(target) in captured.err

    # the genuine file back (same mtime): the rerun computes from the genuine bytes
    with open(target, "r+b") as f:
        f.write(genuine)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    got = features.checkpoint_features(e, clips, "tamper-test", layers=["s1"])["s1"]
    monkeypatch.setenv("RSA_CACHE", str(tmp_path / "fresh-cache"))
    monkeypatch.setenv("RSA_CHECKPOINTS", str(CKPTS[e.name].parent))
    reference = features.checkpoint_features(e, clips, "tamper-test", layers=["s1"])["s1"]
    np.testing.assert_array_equal(got, reference)


def test_read_verified_hashes_the_bytes_it_returns(tmp_path):
    f = tmp_path / "x.ckpt"
    f.write_bytes(b"genuine!")
    data, digest = C.read_verified(f, hashlib.sha256(b"genuine!").hexdigest())
    assert data == b"genuine!" and digest == hashlib.sha256(data).hexdigest()
    st = f.stat()
    f.write_bytes(b"tampered")  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(C.CheckpointError) as err:
        C.read_verified(f, hashlib.sha256(b"genuine!").hexdigest())
    assert str(f) in str(err.value) and hashlib.sha256(b"tampered").hexdigest() in str(err.value)
    assert C.file_sha256(f) == hashlib.sha256(b"tampered").hexdigest()


def test_file_digest_sees_same_size_edit_with_restored_mtime(tmp_path, isolated_env):
    """NWB and events files go through cache.file_digest: no memo may survive an edit."""
    from analysis import cache

    f = tmp_path / "exp.nwb"
    f.write_bytes(b"A" * 1000)
    assert cache.file_digest(f) == hashlib.sha256(b"A" * 1000).hexdigest()
    st = f.stat()
    with open(f, "r+b") as h:
        h.write(b"B")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_mtime_ns == st.st_mtime_ns and f.stat().st_size == st.st_size
    assert cache.file_digest(f) == hashlib.sha256(b"B" + b"A" * 999).hexdigest()
    assert not (isolated_env["RSA_CACHE"] / "file_sha256.json").exists()  # no persistent memo


# --------------------------------------------------------------------------------------
# Malicious archives: bounded memory, bounded recursion
# --------------------------------------------------------------------------------------


def _tensor_pickle(numel: int, size: tuple, stride: tuple, offset: int = 0, key: str = "0") -> bytes:
    def tup(vals):
        return b"(" + b"".join(b"J" + int(v).to_bytes(4, "little", signed=True) for v in vals) + b"t"

    return (
        b"\x80\x02}X\x01\x00\x00\x00tctorch._utils\n_rebuild_tensor_v2\n("
        + b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX" + len(key).to_bytes(4, "little") + key.encode()
        + b"X\x03\x00\x00\x00cpuJ" + numel.to_bytes(4, "little") + b"tQ"
        + b"J" + offset.to_bytes(4, "little", signed=True) + tup(size) + tup(stride)
        + b"\x89ccollections\nOrderedDict\n)RtRs."
    )


def _archive(path: Path, pkl: bytes, members: dict[str, tuple[bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        for name, (data, method) in members.items():
            z.writestr(name, data, compress_type=method)
    return path


@pytest.mark.parametrize("numel,size,stride,offset,why", [
    (1, (8192, 8192), (0, 0), 0, "does not cover its storage exactly"),   # 4 bytes -> 256 MiB
    (4, (2, 2), (1, 1), 0, "not dense"),                                   # overlapping rows
    (4, (4,), (0,), 0, "not dense"),                                       # stride 0, same numel
    (6, (2, 2), (2, 1), 2, "does not cover its storage exactly"),          # a part of the storage
    (4, (2, 2), (-1, 1), 0, "malformed tensor size"),                      # negative stride
])
def test_tensor_views_must_cover_their_storage_exactly(tmp_path, numel, size, stride, offset, why):
    raw = np.arange(numel, dtype=np.float32).tobytes()
    bad = _archive(tmp_path / "v.ckpt", _tensor_pickle(numel, size, stride, offset),
                   {"archive/data/0": (raw, zipfile.ZIP_STORED)})
    t0 = time.perf_counter()
    with pytest.raises(C.CheckpointError, match=why) as err:
        C.safe_load_checkpoint(bad)
    assert str(bad) in str(err.value) and time.perf_counter() - t0 < 2


def test_dense_and_permuted_views_load(tmp_path):
    raw = np.arange(6, dtype=np.float32).tobytes()
    ok = _archive(tmp_path / "p.ckpt", _tensor_pickle(6, (3, 2), (1, 3)), {"archive/data/0": (raw, zipfile.ZIP_STORED)})
    t = C.safe_load_checkpoint(ok)["t"]
    assert torch.equal(t, torch.arange(6, dtype=torch.float32).view(2, 3).t()) and t.is_contiguous()


def test_compressed_member_is_refused_without_inflating(tmp_path, monkeypatch):
    big = bytes(64 << 20)  # 64 MiB of zeros deflate to ~64 KB
    bomb = _archive(tmp_path / "bomb.ckpt", _tensor_pickle(1, (1,), (1,)),
                    {"archive/data/0": (big, zipfile.ZIP_DEFLATED)})
    assert bomb.stat().st_size < 1 << 20

    real = zipfile._get_decompressor

    def no_inflating(compress_type, *a, **k):
        if compress_type != zipfile.ZIP_STORED:
            raise AssertionError("a compressed member was inflated")
        return real(compress_type, *a, **k)

    monkeypatch.setattr(zipfile, "_get_decompressor", no_inflating)
    with pytest.raises(C.CheckpointError, match="compressed") as err:
        C.safe_load_checkpoint(bomb)
    assert str(bomb) in str(err.value) and "archive/data/0" in str(err.value)


def test_compressed_pickle_is_refused(tmp_path):
    path = tmp_path / "z.ckpt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2), compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(C.CheckpointError, match="compressed"):
        C.safe_load_checkpoint(path)


def test_member_size_is_compared_before_reading(tmp_path, monkeypatch):
    raw = np.arange(7, dtype=np.float32).tobytes()  # 7 floats where the pickle says 6
    bad = _archive(tmp_path / "s.ckpt", _tensor_pickle(6, (6,), (1,)), {"archive/data/0": (raw, zipfile.ZIP_STORED)})
    reads: list[str] = []
    real_read = zipfile.ZipFile.read
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name, pwd=None: (
        reads.append(getattr(name, "filename", name)), real_read(self, name, pwd))[1])
    with pytest.raises(C.CheckpointError, match=r"holds 28 bytes, expected 6 x 4"):
        C.safe_load_checkpoint(bad)
    assert "archive/data/0" not in reads


def test_deeply_nested_pickle_is_a_clear_error(tmp_path):
    x: dict = {"a": 1}
    for _ in range(3000):
        x = {"n": x}
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)
    try:
        payload = pickle.dumps(x, protocol=2)
    finally:
        sys.setrecursionlimit(limit)
    deep = _archive(tmp_path / "deep.ckpt", payload, {})
    with pytest.raises(C.CheckpointError, match=f"more than {C.MAX_NESTING} levels") as err:
        C.safe_load_checkpoint(deep)
    assert str(deep) in str(err.value)


# --------------------------------------------------------------------------------------
# Downloads from a local server
# --------------------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    truncate: set[str] = set()

    def log_message(self, *a, **k):  # quiet
        pass

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        if name in self.truncate:  # promise the whole file, send half, close
            data = (Path(self.directory) / "models" / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture()
def served(tmp_path, monkeypatch):
    """A local HTTP server over ``tmp_path/served``; RSA_CHECKPOINT_BASE_URL points at it, online."""
    root = tmp_path / "served"
    (root / "models").mkdir(parents=True)
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("RSA_CHECKPOINT_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/models")
    monkeypatch.delenv("RSA_OFFLINE", raising=False)
    monkeypatch.setenv("RSA_NET_TIMEOUT", "5")
    monkeypatch.setenv("RSA_NET_RETRIES", "1")
    _Handler.truncate = set()
    try:
        yield root / "models"
    finally:
        server.shutdown()
        server.server_close()


def _entry(name: str, content: bytes) -> C.CheckpointEntry:
    return C.CheckpointEntry(name, "rat", 1, hashlib.sha256(content).hexdigest(), f"https://example.invalid/{name}")


def test_download_good_file_lands_verified(served, tmp_path):
    content = os.urandom(300_000)
    (served / "good.ckpt").write_bytes(content)
    e = _entry("good.ckpt", content)
    dest, empty = tmp_path / "dest", tmp_path / "empty"
    empty.mkdir()
    p = C.locate(e, search_dirs=[empty], download_dir=dest)  # by default: no flag
    assert p == dest / "good.ckpt" and p.read_bytes() == content
    assert sorted(x.name for x in dest.iterdir()) == ["good.ckpt"]


def test_download_truncated_transfer_leaves_nothing(served, tmp_path):
    content = os.urandom(300_000)
    (served / "cut.ckpt").write_bytes(content)
    _Handler.truncate = {"cut.ckpt"}
    dest, empty = tmp_path / "dest", tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(C.CheckpointError) as err:
        C.locate(_entry("cut.ckpt", content), search_dirs=[empty], download_dir=dest)
    assert "cut.ckpt" in str(err.value) and "127.0.0.1" in str(err.value)
    assert list(dest.iterdir()) == []


def test_download_wrong_hash_names_both_hashes_and_leaves_nothing(served, tmp_path):
    expected = b"the genuine bytes"
    (served / "bad.ckpt").write_bytes(b"something else entirely")
    e = _entry("bad.ckpt", expected)
    dest, empty = tmp_path / "dest", tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(C.CheckpointError) as err:
        C.locate(e, search_dirs=[empty], download_dir=dest)
    msg = str(err.value)
    assert "bad.ckpt" in msg and e.sha256 in msg
    assert hashlib.sha256(b"something else entirely").hexdigest() in msg
    assert list(dest.iterdir()) == []


def test_offline_missing_checkpoints_one_clear_error(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("RSA_OFFLINE", "1")
    monkeypatch.setenv("RSA_CHECKPOINTS", str(tmp_path))
    entries = C.select_checkpoints(names=["rat1", "ts2"])
    with pytest.raises(C.CheckpointError) as err:
        C.locate_all(entries)
    msg = str(err.value)
    assert "rat1.ckpt" in msg and "ts2.ckpt" in msg and "RSA_OFFLINE" in msg and "--offline" in msg
    with pytest.raises(C.CheckpointError, match="offline"):
        C.locate(entries[0])
    assert no_network == []


def test_cli_offline_flag_forbids_downloads(tmp_path, monkeypatch, no_network, capsys):
    monkeypatch.delenv("RSA_OFFLINE", raising=False)
    monkeypatch.setenv("RSA_CHECKPOINTS", str(tmp_path))
    assert main(["--offline", "checkpoints"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 10 of 10 checkpoints are missing") and "RSA_OFFLINE" in err
    assert no_network == []


# --------------------------------------------------------------------------------------
# A server that accepts and never answers
# --------------------------------------------------------------------------------------


@pytest.fixture()
def silent_server(monkeypatch):
    """A socket on 127.0.0.1 that completes TCP handshakes (backlog) and never sends a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    monkeypatch.setenv("RSA_NET_TIMEOUT", "0.3")
    monkeypatch.setenv("RSA_NET_RETRIES", "1")
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_allen_json_query_times_out(silent_server, tmp_path):
    pytest.importorskip("allensdk")
    from analysis import allen

    api = allen.local_first_api(tmp_path, "allen", download=True)
    url = f"http://{silent_server}/api/v2/data/query.json?criteria=model::ExperimentContainer"
    t0 = time.perf_counter()
    with pytest.raises(net.NetworkError) as err:
        api.retrieve_parsed_json_over_http(url)
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert silent_server in msg and "timed out" in msg and "RSA_OFFLINE=1" in msg and "2 attempt" in msg


def test_allen_file_download_times_out_and_leaves_nothing(silent_server, tmp_path):
    pytest.importorskip("allensdk")
    from analysis import allen

    api = allen.local_first_api(tmp_path, "allen", download=True)
    target = tmp_path / "ophys_experiment_data" / "501940850.nwb"
    t0 = time.perf_counter()
    with pytest.raises(net.NetworkError) as err:
        api.retrieve_file_over_http(f"http://{silent_server}/allen/501940850.nwb", str(target))
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert silent_server in msg and str(target) in msg and "--offline" in msg
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_checkpoint_download_times_out(silent_server, tmp_path, monkeypatch):
    monkeypatch.delenv("RSA_OFFLINE", raising=False)
    monkeypatch.setenv("RSA_CHECKPOINT_BASE_URL", f"http://{silent_server}/models")
    dest, empty = tmp_path / "dest", tmp_path / "empty"
    empty.mkdir()
    t0 = time.perf_counter()
    with pytest.raises(C.CheckpointError) as err:
        C.locate(_entry("slow.ckpt", b"x"), search_dirs=[empty], download_dir=dest)
    assert time.perf_counter() - t0 < 5
    assert silent_server in str(err.value) and "timed out" in str(err.value)
    assert list(dest.iterdir()) == []


def test_unreachable_host_is_one_clear_error(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens: connection refused
    with pytest.raises(net.NetworkError) as err:
        net.with_retries(lambda: net.get(f"http://127.0.0.1:{port}/x.json", "x.json"),
                         f"http://127.0.0.1:{port}/x.json", "x.json")
    assert f"127.0.0.1:{port} cannot be reached" in str(err.value) and "\n" not in str(err.value)


def test_bad_timeout_setting_is_named(monkeypatch):
    monkeypatch.setenv("RSA_NET_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="RSA_NET_TIMEOUT='soon'"):
        net.timeout()
