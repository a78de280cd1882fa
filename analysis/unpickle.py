"""Reading a ``torch.save`` zip checkpoint without executing any pickled code.

The checkpoints are PyTorch-Lightning 2.1.1 ``torch.save`` zip archives
(``<root>/data.pkl`` plus one raw storage file per tensor under ``<root>/data/<key>``).
Their pickle holds omegaconf containers besides tensors, so
``torch.load(weights_only=True)`` refuses them and ``weights_only=False`` would run any
code a tampered file carries. This module therefore reads them with its own
restricted unpickler (:func:`safe_load_checkpoint`):

* tensors are rebuilt from the raw storage bytes with public torch APIs
  (``torch.frombuffer`` + ``as_strided``), always on the CPU, and only when the view is
  dense and covers its storage exactly (no stride-0 or overlapping views that would
  allocate more than the file holds, no storage shared by two tensors);
* storage members must be *stored* (torch never compresses them) and their sizes are
  compared with what the tensors need before a byte is read (no zip bombs);
* containers nested deeper than :data:`MAX_NESTING` levels are refused (no bare
  ``RecursionError``);
* ``collections.OrderedDict`` / ``defaultdict`` and a few builtin names are allowed as data;
* the omegaconf containers (``DictConfig``, ``ListConfig``, ``*Node``, ``Metadata``) and
  ``typing.Any`` are mapped to *inert* stand-ins that only record the state they are given
  (no omegaconf code runs; omegaconf need not be installed) and are then converted to plain
  ``dict`` / ``list`` / scalar data;
* any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``,
  ``functools.partial``, ...) and the opcodes that could call one (``REDUCE``, ``NEWOBJ``,
  ``INST``, ``OBJ``, ``EXT*``, ``BUILD`` on foreign objects) are refused with
  :class:`UnsafeCheckpointError` *before* anything is called.

The bytes parsed are the bytes verified: :func:`read_verified` reads a file once and
hashes those bytes, and :func:`safe_load_checkpoint` parses exactly them. The manifest,
locating and downloading are :mod:`analysis.checkpoints`, which re-exports this module's
public names.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CheckpointError",
    "UnsafeCheckpointError",
    "MAX_NESTING",
    "GlobalRef",
    "InertObject",
    "read_verified",
    "safe_load_checkpoint",
]


class CheckpointError(RuntimeError):
    """A checkpoint cannot be found, fails verification, or is malformed."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint's pickle asks for a global or an operation outside the allow-list."""


def read_verified(path: Path | str, expected_sha256: str | None = None) -> tuple[bytes, str]:
    """``(data, sha256)``: the file's bytes, read once, and the SHA-256 of those bytes.

    With ``expected_sha256`` a mismatch raises :class:`CheckpointError` naming the file and
    both hashes; the bytes returned are then exactly the bytes that were verified.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise CheckpointError(
            f"checkpoint {path} has sha256 {digest}, but the manifest expects {expected_sha256}: "
            "the file was changed, damaged or replaced since it was located. Replace or delete it "
            "(it will be downloaded again unless RSA_OFFLINE=1)."
        )
    return data, digest


# --------------------------------------------------------------------------------------
# Restricted unpickler
# --------------------------------------------------------------------------------------

_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class _StorageType:
    """Inert marker for ``torch.<X>Storage`` (only ever used by persistent_load)."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: torch.dtype):
        self.name, self.dtype = name, dtype

    def __repr__(self) -> str:
        return f"<storage type torch.{self.name}>"


class GlobalRef:
    """Inert record of an allowed global used only as data (``typing.Any``, ``builtins.dict``)."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GlobalRef) and (self.module, self.name) == (other.module, other.name)

    def __hash__(self) -> int:
        return hash((self.module, self.name))


class InertObject:
    """Inert stand-in for an allowed foreign class (omegaconf containers and nodes).

    Creating one (NEWOBJ / REDUCE) records its arguments, BUILD records its state; no code
    of the original class runs. Subclasses are made per ``(module, name)``.
    """

    module: str = ""
    qualname: str = ""

    def __init__(self, *args: Any) -> None:
        self.args = args
        self.state: Any = None

    def set_state(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<inert {self.module}.{self.qualname}>"


_INERT_CLASSES: dict[tuple[str, str], type[InertObject]] = {}
#: omegaconf classes that become inert stand-ins.
_OMEGACONF_ALLOWED = {
    ("omegaconf.dictconfig", "DictConfig"),
    ("omegaconf.listconfig", "ListConfig"),
    ("omegaconf.base", "Metadata"),
    ("omegaconf.base", "ContainerMetadata"),
    ("omegaconf.nodes", "AnyNode"),
    ("omegaconf.nodes", "StringNode"),
    ("omegaconf.nodes", "IntegerNode"),
    ("omegaconf.nodes", "FloatNode"),
    ("omegaconf.nodes", "BooleanNode"),
    ("omegaconf.nodes", "BytesNode"),
    ("omegaconf.nodes", "PathNode"),
    ("omegaconf.nodes", "EnumNode"),
}
#: Globals that are only data (never called).
_DATA_GLOBALS = {
    ("typing", "Any"),
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "int"), ("builtins", "float"),
    ("builtins", "str"), ("builtins", "bool"), ("builtins", "tuple"), ("builtins", "bytes"),
    ("builtins", "object"), ("builtins", "set"),
}
_PY2_MODULES = {"__builtin__": "builtins"}
_PY2_NAMES = {("builtins", "long"): ("builtins", "int"), ("builtins", "unicode"): ("builtins", "str")}


def _py3_alias(module: str, name: str) -> str:
    """`` (Python 3: subprocess.Popen)`` when a protocol-2 pickle spells a global the py2 way."""
    import _compat_pickle

    mod, nm = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    mod = _compat_pickle.IMPORT_MAPPING.get(mod, mod)
    return f" (Python 3: {mod}.{nm})" if (mod, nm) != (module, name) else ""


def _inert_class(module: str, name: str) -> type[InertObject]:
    key = (module, name)
    cls = _INERT_CLASSES.get(key)
    if cls is None:
        cls = type(f"Inert_{name}", (InertObject,), {"module": module, "qualname": name})
        _INERT_CLASSES[key] = cls
    return cls


def _safe_defaultdict(*args: Any) -> dict:
    """Stand-in for ``collections.defaultdict(factory[, items])``: a plain dict of the items."""
    if len(args) > 2:
        raise pickle.UnpicklingError("defaultdict takes at most two arguments")
    return dict(args[1]) if len(args) == 2 and isinstance(args[1], (dict, list)) else {}


def _safe_ordereddict(*args: Any) -> collections.OrderedDict:
    if args and not (len(args) == 1 and isinstance(args[0], (list, tuple, dict))):
        raise pickle.UnpicklingError("OrderedDict called with unexpected arguments")
    return collections.OrderedDict(*args)


#: Deepest container nesting accepted in a checkpoint's pickle (the real files: 7 levels).
MAX_NESTING = 100
#: Most dimensions of one tensor.
_MAX_DIMS = 32


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                    backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    """Checked replacement of ``torch._utils._rebuild_tensor_v2``: dense views of a whole storage only.

    The view must start at offset 0, hold exactly as many elements as its storage and be
    dense (its strides, ignoring dimensions of size 1, a permutation of contiguous
    strides: no stride 0, no overlap, no gaps), so a tensor never needs more memory than
    its storage bytes in the file, which were already checked against the archive.
    """
    if not isinstance(storage, torch.Tensor) or storage.dim() != 1:
        raise pickle.UnpicklingError("tensor rebuilt from something that is not a storage")
    if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)):
        raise pickle.UnpicklingError("malformed tensor offset/size/stride")
    if (len(size) != len(stride) or len(size) > _MAX_DIMS
            or not all(type(v) is int and v >= 0 for v in size + stride) or offset < 0):
        raise pickle.UnpicklingError(f"malformed tensor size {size} / stride {stride}")
    n = storage.numel()
    numel = 1
    for s in size:
        numel *= s
    where = f"tensor view (offset {offset}, size {size}, stride {stride}) of a storage of {n} elements"
    if offset != 0 or numel != n:
        raise pickle.UnpicklingError(f"{where} does not cover its storage exactly "
                                     f"({numel} elements from offset {offset}; refused before allocating)")
    expected = 1
    for s, st in sorted(((s, st) for s, st in zip(size, stride) if s > 1), key=lambda p: p[1]):
        if st != expected:
            raise pickle.UnpicklingError(f"{where} is not dense (stride 0, overlapping or gapped; "
                                         "refused before allocating)")
        expected *= s
    if not numel:
        return storage.new_empty(size)
    view = torch.as_strided(storage, size, stride, 0)
    # A contiguous view costs no memory (tensors sharing a storage in the file share it here
    # too, as with torch.load); a permuted dense layout gets one copy of its storage's size.
    return view if view.is_contiguous() else view.contiguous()


class _RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler: every opcode is ours
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: io.BytesIO, zf: zipfile.ZipFile, root: str, source: str):
        super().__init__(file)
        self._zf = zf
        self._root = root
        self._source = source
        self._storages: dict[str, torch.Tensor] = {}
        self._rebuilt: set[int] = set()  # ids of the storages already made into a tensor
        self._safe_callables = {id(_rebuild_tensor), id(_safe_defaultdict), id(_safe_ordereddict)}

    # -- globals ------------------------------------------------------------------------
    def _refuse(self, what: str) -> None:
        raise UnsafeCheckpointError(
            f"refusing to load {self._source}: its pickle asks for {what}, which is not on the "
            "allow-list of a weights checkpoint (tensors, plain containers, inert omegaconf "
            "data). Nothing from the file was executed. Do not load this file with "
            "torch.load(weights_only=False); obtain a verified copy (see checkpoints/manifest.json)."
        )

    def find_class(self, module: str, name: str) -> Any:
        mod = _PY2_MODULES.get(module, module)
        mod, nm = _PY2_NAMES.get((mod, name), (mod, name))
        if (mod, nm) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if mod == "torch" and nm in _STORAGE_DTYPES:
            return _StorageType(nm, _STORAGE_DTYPES[nm])
        if (mod, nm) == ("collections", "OrderedDict"):
            return _safe_ordereddict
        if (mod, nm) == ("collections", "defaultdict"):
            return _safe_defaultdict
        if (mod, nm) in _OMEGACONF_ALLOWED:
            return _inert_class(mod, nm)
        if (mod, nm) in _DATA_GLOBALS:
            return GlobalRef(mod, nm)
        self._refuse(f"the global {module}.{name}{_py3_alias(module, name)}")

    # -- persistent ids: tensor storages in the zip ---------------------------------------
    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"refusing to load {self._source}: unexpected persistent id {pid!r}")
        _, stype, key, _location, numel = pid
        if not isinstance(stype, _StorageType) or not isinstance(key, str) or not isinstance(numel, int):
            raise UnsafeCheckpointError(f"refusing to load {self._source}: malformed storage reference {pid!r}")
        if not key.isalnum():
            raise CheckpointError(f"{self._source}: bad storage key {key!r}")
        cached = self._storages.get(key)
        if cached is None:
            member = f"{self._root}/data/{key}"
            try:
                info = self._zf.getinfo(member)
            except KeyError:
                raise CheckpointError(f"{self._source}: storage {key} is missing from the archive") from None
            itemsize = torch.empty((), dtype=stype.dtype).element_size()
            _check_stored(info, self._source)
            if numel < 0 or info.file_size != numel * itemsize:  # before reading a byte
                raise CheckpointError(
                    f"{self._source}: storage {key} holds {info.file_size} bytes, expected {numel} x {itemsize}"
                )
            raw = self._zf.read(info)
            if len(raw) != numel * itemsize:
                raise CheckpointError(
                    f"{self._source}: storage {key} holds {len(raw)} bytes, expected {numel} x {itemsize}"
                )
            cached = torch.frombuffer(bytearray(raw), dtype=stype.dtype) if raw else torch.empty(0, dtype=stype.dtype)
            self._storages[key] = cached
        if cached.dtype != stype.dtype:
            raise CheckpointError(f"{self._source}: storage {key} used with two dtypes")
        return cached

    # -- opcodes that call or mutate objects ----------------------------------------------
    def _check_callable(self, func: Any) -> None:
        if id(func) in self._safe_callables or (isinstance(func, type) and issubclass(func, InertObject)):
            return
        self._refuse(f"a call of {func!r}")

    def load_reduce(self) -> None:
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        self._check_callable(func)
        if not isinstance(args, tuple):
            raise pickle.UnpicklingError("REDUCE arguments are not a tuple")
        result = func(*args)
        if func is _rebuild_tensor and result.numel() and result.data_ptr() != args[0].data_ptr():
            # a copy (permuted layout): k such tensors over one storage would allocate k copies
            if id(args[0]) in self._rebuilt:
                raise CheckpointError(f"{self._source}: one storage is copied into two permuted tensors (refused)")
            self._rebuilt.add(id(args[0]))
        stack[-1] = result

    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        if not (isinstance(cls, type) and issubclass(cls, InertObject)):
            self._refuse(f"instantiating {cls!r}")
        self.append(cls(*args))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if not (isinstance(cls, type) and issubclass(cls, InertObject)) or kwargs:
            self._refuse(f"instantiating {cls!r} with keyword arguments")
        self.append(cls(*args))

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, InertObject):
            inst.set_state(state)
            return
        if isinstance(inst, collections.OrderedDict) and isinstance(state, dict):
            # torch state dicts carry a `_metadata` attribute (per-module versions).
            for k, v in state.items():
                if not isinstance(k, str) or k.startswith("__"):
                    self._refuse(f"setting attribute {k!r} on a dictionary")
                inst.__dict__[k] = v
            return
        self._refuse(f"BUILD (setting state) on {type(inst).__name__}")

    dispatch[pickle.BUILD[0]] = load_build

    def _refuse_opcode(self) -> None:
        self._refuse("a protocol-0/1 instantiation or copyreg extension opcode (INST/OBJ/EXT)")

    for _op in (pickle.INST, pickle.OBJ, pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _refuse_opcode
    del _op


class _TooDeep(Exception):
    """Nesting beyond :data:`MAX_NESTING` (turned into a CheckpointError naming the file)."""


def _plain(obj: Any, _seen: dict[int, Any] | None = None, _depth: int = 0) -> Any:
    """Convert inert omegaconf stand-ins (and containers of them) to plain data.

    ``DictConfig`` -> dict, ``ListConfig`` -> list, ``*Node`` -> its value, ``Metadata`` ->
    dict of its fields (``_parent`` back-references are dropped). Tensors are kept.
    Raises :class:`_TooDeep` beyond :data:`MAX_NESTING` levels.
    """
    if _seen is None:
        _seen = {}
    if _depth > MAX_NESTING:
        raise _TooDeep()
    _d = _depth + 1
    if isinstance(obj, (str, int, float, bool, bytes, type(None), torch.Tensor)):
        return obj
    if id(obj) in _seen:
        return _seen[id(obj)]
    if isinstance(obj, InertObject):
        state = obj.state if isinstance(obj.state, dict) else {}
        if obj.qualname in ("DictConfig", "ListConfig"):
            content = state.get("_content")
            if content is None or isinstance(content, str):  # None / "???" / interpolation
                return content
            return _plain(content, _seen, _d)
        if obj.qualname.endswith("Node"):
            return _plain(state.get("_val"), _seen, _d)
        if obj.qualname in ("Metadata", "ContainerMetadata"):
            return {k: _plain(v, _seen, _d) for k, v in state.items() if k != "_parent"}
        return {"__inert__": f"{obj.module}.{obj.qualname}", "state": _plain(obj.state, _seen, _d)}
    if isinstance(obj, GlobalRef):
        return repr(obj)
    if isinstance(obj, collections.OrderedDict):
        out: Any = collections.OrderedDict()
        _seen[id(obj)] = out
        for k, v in obj.items():
            out[_plain(k, _seen, _d)] = _plain(v, _seen, _d)
        return out
    if isinstance(obj, dict):
        out = {}
        _seen[id(obj)] = out
        for k, v in obj.items():
            out[_plain(k, _seen, _d)] = _plain(v, _seen, _d)
        return out
    if isinstance(obj, list):
        out = []
        _seen[id(obj)] = out
        out.extend(_plain(v, _seen, _d) for v in obj)
        return out
    if isinstance(obj, tuple):
        return tuple(_plain(v, _seen, _d) for v in obj)
    if isinstance(obj, (set, frozenset)):
        return type(obj)(_plain(v, _seen, _d) for v in obj)
    return obj


def _check_stored(info: zipfile.ZipInfo, source: str) -> None:
    """Refuse a compressed member (torch writes every member stored; inflating is a zip bomb risk)."""
    if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
        raise CheckpointError(
            f"{source}: archive member {info.filename} is compressed (method {info.compress_type}, "
            f"{info.compress_size} bytes inflating to {info.file_size}); torch checkpoints store every "
            "member uncompressed, so the file is not a genuine checkpoint (refused without inflating it)"
        )


def safe_load_checkpoint(path: Path | str, *, data: bytes | None = None,
                         expected_sha256: str | None = None) -> dict[str, Any]:
    """Load a ``torch.save`` zip checkpoint without executing any pickled code.

    The file is read into memory once (or ``data``, bytes already read from ``path``, is
    used); with ``expected_sha256`` those bytes must have that SHA-256, and the very same
    bytes are parsed. Returns the checkpoint's top-level dict with tensors (float32/int64
    on the CPU, contiguous, over the storage bytes read from the archive; tensors sharing a
    storage in the file share memory, as with ``torch.load``) and every omegaconf container
    converted to plain dicts/lists/scalars.

    Raises
    ------
    UnsafeCheckpointError
        The pickle names a global outside the allow-list (the message names the global and
        the file) or uses an opcode that could run code.
    CheckpointError
        The bytes do not have ``expected_sha256``; the file is not a torch zip archive, has
        a compressed member, a tensor that does not exactly cover its storage, containers
        nested deeper than :data:`MAX_NESTING`, or is otherwise inconsistent.
    """
    path = Path(path)
    source = str(path)
    if data is None:
        data, _ = read_verified(path, expected_sha256)
    elif expected_sha256 is not None and (actual := hashlib.sha256(data).hexdigest()) != expected_sha256:
        raise CheckpointError(f"checkpoint {path} has sha256 {actual}, but the manifest expects {expected_sha256}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{source} is not a readable torch zip checkpoint: {exc}") from None
    with zf:
        pkl_names = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl_names) != 1:
            raise CheckpointError(f"{source}: expected exactly one <root>/data.pkl in the archive, found {pkl_names}")
        root = pkl_names[0].rsplit("/", 1)[0]
        byteorder_name = f"{root}/byteorder"
        try:
            if byteorder_name in zf.namelist():
                _check_stored(zf.getinfo(byteorder_name), source)
                order = zf.read(byteorder_name).decode(errors="replace").strip()
                if order != "little":
                    raise CheckpointError(f"{source}: storages are {order}-endian; only little-endian is supported")
            _check_stored(zf.getinfo(pkl_names[0]), source)
            pkl = zf.read(pkl_names[0])
        except zipfile.BadZipFile as exc:
            raise CheckpointError(f"{source} is not a readable torch zip checkpoint: {exc}") from None
        unpickler = _RestrictedUnpickler(io.BytesIO(pkl), zf, root, source)
        try:
            obj = unpickler.load()
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - malformed pickles: report, never half-load
            raise CheckpointError(f"{source}: malformed checkpoint pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{source}: top-level object is {type(obj).__name__}, expected a dict")
    try:
        return _plain(obj)
    except _TooDeep:
        raise CheckpointError(
            f"{source}: the checkpoint's pickle nests containers more than {MAX_NESTING} levels deep "
            "(a weights checkpoint nests fewer than 10); refused as malformed or malicious"
        ) from None
