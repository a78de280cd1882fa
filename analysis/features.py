"""Stimulus clips, network layer activations and the pixel baseline.

The original protocol (the reference notes ``original-protocol.md``, "Stimuli into the
networks"): each template frame is scaled to [0, 1], resized to 64x64 with antialiasing
(aspect ratio *not* kept), copied to 3 channels and normalised with the checkpoint's
mean/std; each scene becomes a static clip of 15 identical frames, the movie is cut into
consecutive 15-frame clips. A layer's response to a clip is its activation averaged over
time and flattened.

Resizing is exactly the original's: torchvision's ``ToTensor`` (uint8 / 255 -> float32)
then ``Resize((64, 64), antialias=True)`` on the float tensor, i.e.
``torch.nn.functional.interpolate(mode="bilinear", antialias=True, align_corners=False)``
(a separable triangle filter widened by the scale factor, as in PIL). A scene is resized
as one channel (then copied to 3 channels x 15 frames), a movie clip's 15 frames together
as the 15 channels of one image. With ``keep_aspect`` (corrected protocol) the longer
side goes to 64 with the same interpolation and the frame is centred on a grey pad.

Per-frame movie (``movie_bin``): every layer keeps the time axis (kernel 5, pad 2,
stride 1 in time: 15 output steps for a 15-frame clip), so the 60 consecutive clips of
the movie give 60 x 15 = 900 per-frame feature vectors, frame ``15k + t`` being time
step ``t`` of clip ``k`` (each frame seen with the context of its own clip, as in the
original). A condition of ``movie_bin`` frames is the mean of its frames' features;
``movie_bin=15`` is exactly the original protocol (the time average of each clip,
computed by the same ``mean(dim=2)``), ``movie_bin=1`` gives 900 per-frame conditions.
Bins that straddle clips (e.g. 30, 45, or 6) are averaged across the clip boundary.
The pixel baseline is binned the same way.

Shapes: clips ``(n_clips, 3, 15, 64, 64)`` float32 in [0, 1], un-normalised; features
``(n_clips, n_features)`` float32 with ``n_features`` = 32,768 for ``s1`` (128 x 16 x 16) and
16,384 (64 x 16 x 16) for every residual block and ``out``; pixel features
``(n_clips, 4096)``.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import numpy as np
import torch

from . import cache, config, study
from . import checkpoints as ckpt
from . import models

__all__ = [
    "CLIP_LEN",
    "FRAME_SIZE",
    "make_clips",
    "clips_from_frames",
    "clips_cache_key",
    "pixel_features",
    "extract_features",
    "checkpoint_features",
    "feature_size",
    "check_movie_bin",
]

#: Frames per clip (0.5 s at 30 fps).
CLIP_LEN: int = study.CLIP_LEN
#: Side of the square frames the networks were trained on.
FRAME_SIZE: int = study.FRAME_SIZE


#: Tag of the resizing in the clips' cache key (part of every feature and model-RDM key).
RESIZE: str = "torch-bilinear-aa-v1"


def resize_frames(frames: np.ndarray, keep_aspect: bool = False, pad_value: float = 0.5) -> np.ndarray:
    """Frames resized to ``FRAME_SIZE`` squares as the original did (see the module docstring).

    ``frames`` uint8 ``(n, height, width)``, resized together as the ``n`` channels of one
    image (a scene: ``n = 1``; a movie clip: its 15 frames) -> float32 ``(n, 64, 64)`` in
    [0, 1]. ``keep_aspect``: the longer side to 64 (the other rounded), centred on
    ``pad_value``.
    """
    frames = np.ascontiguousarray(frames)
    if not frames.flags.writeable:  # e.g. a worker's memory-mapped template: torch wants writable memory
        frames = frames.copy()
    x = torch.from_numpy(frames).to(torch.float32).div(255)[None]  # ToTensor
    h, w = x.shape[-2:]
    size = (FRAME_SIZE, FRAME_SIZE)
    if keep_aspect:
        scale = FRAME_SIZE / max(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    if not keep_aspect:
        return small.numpy()
    out = np.full((x.shape[1], FRAME_SIZE, FRAME_SIZE), pad_value, dtype=np.float32)
    top, left = (FRAME_SIZE - size[0]) // 2, (FRAME_SIZE - size[1]) // 2
    out[:, top:top + size[0], left:left + size[1]] = small.numpy()
    return out


def make_clips(
    template: np.ndarray,
    stimulus: str,
    *,
    keep_aspect: bool = False,
    pad_value: float = 0.5,
) -> torch.Tensor:
    """Network input clips of a stimulus template, un-normalised.

    Parameters
    ----------
    template:
        uint8 array ``(n_frames, height, width)``: the 118 scenes ``(118, 918, 1174)`` or the
        movie ``(900, 304, 608)`` (stand-in templates of other sizes are accepted).
    stimulus:
        Name of a :class:`analysis.study.Stimulus`. A static stimulus (Natural Scenes): one
        clip of 15 identical frames per image; a movie: consecutive non-overlapping 15-frame
        clips (clip ``k`` holds frames ``15k .. 15k+14``; the frame count must be a multiple
        of 15).
    keep_aspect:
        ``False`` (the original protocol): squash each frame to 64x64. ``True``: resize the
        longer side to 64 and centre the frame on a ``pad_value`` background (0.5 = the mean
        grey of the Brain Observatory screen) - for a corrected protocol.

    Returns
    -------
    torch.Tensor
        float32 ``(n_clips, 3, 15, 64, 64)`` in [0, 1]; the 3 channels are identical.
    """
    stim = study.get_stimulus(stimulus)
    template = np.asarray(template)
    if template.dtype != np.uint8:
        raise TypeError(f"template must be uint8 (0-255 grey levels), got dtype {template.dtype}")
    if template.ndim != 3 or min(template.shape) < 1:
        raise ValueError(f"template must have shape (n_frames, height, width), got {template.shape}")
    if stim.is_movie and template.shape[0] % CLIP_LEN:
        raise ValueError(
            f"movie template has {template.shape[0]} frames, not a multiple of {CLIP_LEN}; "
            f"expected e.g. (900, 304, 608) -> 60 clips"
        )
    if not 0.0 <= pad_value <= 1.0:
        raise ValueError(f"pad_value must lie in [0, 1], got {pad_value}")
    step = CLIP_LEN if stim.is_movie else 1  # a clip's frames together; each image alone
    frames = np.concatenate([resize_frames(template[i:i + step], keep_aspect, pad_value)
                             for i in range(0, template.shape[0], step)])
    np.clip(frames, 0.0, 1.0, out=frames)  # bilinear interpolation stays in range; belt and braces
    return clips_from_frames(frames, stimulus)


def clips_from_frames(frames: np.ndarray, stimulus: str) -> torch.Tensor:
    """Clips ``(n_clips, 3, 15, 64, 64)`` from resized frames ``(n_frames, 64, 64)`` float32
    (the last step of :func:`make_clips`; lets the pipeline cache the 64x64 frames only)."""
    stim = study.get_stimulus(stimulus)
    t = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))  # (n_frames, 64, 64)
    if not stim.is_movie:
        clips = t[:, None, None, :, :].expand(-1, 3, CLIP_LEN, -1, -1)
    else:
        clips = t.reshape(-1, CLIP_LEN, FRAME_SIZE, FRAME_SIZE)[:, None].expand(-1, 3, -1, -1, -1)
    return clips.contiguous()


def clips_cache_key(template: np.ndarray, stimulus: str, *, keep_aspect: bool = False,
                    pad_value: float = 0.5) -> str:
    """A ``clips_key`` for :func:`checkpoint_features`: the template's content hash + options."""
    opts = f"keep_aspect={bool(keep_aspect)},pad={float(pad_value) if keep_aspect else None}"
    return f"{stimulus}:{cache.hash_array(np.asarray(template))}:{opts}:resize={RESIZE}"


def _as_tensor(clips: torch.Tensor | np.ndarray) -> torch.Tensor:
    t = clips if isinstance(clips, torch.Tensor) else torch.from_numpy(np.asarray(clips))
    if t.dim() != 5 or t.shape[1] != 3:
        raise ValueError(f"clips must have shape (n_clips, 3, T, H, W), got {tuple(t.shape)}")
    return t.float()


def check_movie_bin(movie_bin: int | None, n_clips: int, clip_len: int) -> int | None:
    """Validate ``movie_bin`` against ``n_clips`` clips of ``clip_len`` frames; returns it
    (``None`` = one condition per clip, the time average)."""
    if movie_bin is None:
        return None
    n_frames = n_clips * clip_len
    if isinstance(movie_bin, bool) or int(movie_bin) < 1 or n_frames % int(movie_bin):
        valid = [d for d in range(1, n_frames + 1) if n_frames % d == 0]
        raise ValueError(f"movie_bin must divide the {n_frames} frames of the clips; got {movie_bin!r}; "
                         f"valid: {valid}")
    return int(movie_bin)


def _bin_frames(frames: np.ndarray, movie_bin: int) -> np.ndarray:
    """``(n_frames, F)`` -> ``(n_frames // movie_bin, F)`` float32 block means (float64 sums)."""
    n, f = frames.shape
    return frames.reshape(n // movie_bin, movie_bin, f).mean(axis=1, dtype=np.float64).astype(np.float32)


def pixel_features(clips: torch.Tensor | np.ndarray, movie_bin: int | None = None) -> np.ndarray:
    """The pixel baseline: each un-normalised clip averaged over channels and time.

    ``(n_clips, 3, T, 64, 64)`` -> float32 ``(n_clips, 64 * 64)`` (row-major pixels).
    With ``movie_bin`` (clips = consecutive pieces of one movie): the frames averaged
    over channels, then blocks of ``movie_bin`` consecutive frames averaged ->
    ``(n_clips * T // movie_bin, 64 * 64)``; ``movie_bin = T`` equals the default.
    """
    t = _as_tensor(clips)
    movie_bin = check_movie_bin(movie_bin, t.shape[0], t.shape[2])
    if movie_bin is None or movie_bin == t.shape[2]:
        return t.mean(dim=(1, 2), dtype=torch.float64).flatten(1).cpu().numpy().astype(np.float32)
    frames = t.mean(dim=1, dtype=torch.float64).flatten(2).flatten(0, 1)  # (n_clips * T, H * W)
    n, f = frames.shape
    return frames.reshape(n // movie_bin, movie_bin, f).mean(dim=1).cpu().numpy().astype(np.float32)


def feature_size(layer: str) -> int:
    """Number of features of a layer for a 64x64 input (time averaged)."""
    study.validate_choice("layer", layer, models.OUTPUT_LAYERS)
    return (128 if layer == "s1" else 64) * 16 * 16


@contextlib.contextmanager
def _tf32(enabled: bool) -> Iterator[None]:
    """Set cuDNN/cuBLAS TF32 use for the duration of a call (CUDA defaults allow it for
    convolutions, which costs ~1e-3 relative precision); restore the caller's flags after."""
    old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = enabled
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


@contextlib.contextmanager
def _eval_mode(net: torch.nn.Module) -> Iterator[None]:
    was_training = net.training
    net.eval()
    try:
        yield
    finally:
        net.train(was_training)


def extract_features(
    net: models.VisualNet,
    clips: torch.Tensor | np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    layers: Sequence[str] = study.LAYERS,
    batch_size: int = 8,
    device: torch.device | str | None = None,
    progress: bool = False,
    allow_tf32: bool = False,
    movie_bin: int | None = None,
) -> dict[str, np.ndarray]:
    """Time-averaged, flattened activations of ``layers`` for each clip (or frame bin).

    Parameters
    ----------
    net:
        A :class:`~analysis.models.VisualNet` (run in eval mode; a net in training mode is
        switched to eval for the call and restored after, so BatchNorm statistics never change).
    clips:
        ``(n_clips, 3, T, 64, 64)`` in [0, 1], un-normalised (from :func:`make_clips`).
    mean, std:
        Per-channel RGB normalisation of the checkpoint (:func:`analysis.checkpoints.normalisation`).
    layers:
        Names from :data:`analysis.study.LAYERS` (``"pixel"`` is not a network layer: use
        :func:`pixel_features`).
    batch_size:
        Clips per forward pass; results agree across batch sizes to float tolerance.
    device:
        Where to run; default the device the network's parameters are on. The network is
        moved there if needed.
    allow_tf32:
        On CUDA, let cuDNN use TF32 tensor cores (faster, ~1e-3 relative error). Off by
        default so that GPU features match CPU features to float32 precision.
    movie_bin:
        ``None`` (default): one row per clip, the layer averaged over the clip's time steps.
        An integer: the clips are consecutive pieces of one movie (frame ``T k + t`` is time
        step ``t`` of clip ``k``); each row is the mean over ``movie_bin`` consecutive frames'
        time steps, ``n_clips * T / movie_bin`` rows (``movie_bin`` must divide
        ``n_clips * T``). ``movie_bin = T`` is exactly the default (same reduction);
        ``movie_bin = 1`` gives per-frame features.

    Returns
    -------
    dict
        ``layer -> float32 (n_rows, n_features)``, in the order of ``layers``;
        ``n_features`` = 32,768 for ``s1``, 16,384 otherwise.
    """
    layers = tuple(layers)
    if not layers:
        raise ValueError(f"no layers requested; valid layers: {', '.join(models.OUTPUT_LAYERS)}")
    for layer in layers:
        if layer == study.PIXEL_LAYER:
            raise ValueError("'pixel' is not a network layer; use pixel_features(clips)")
        study.validate_choice("layer", layer, models.OUTPUT_LAYERS)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
    std_t = torch.as_tensor(std, dtype=torch.float32).flatten()
    if mean_t.numel() != 3 or std_t.numel() != 3 or bool((std_t <= 0).any()):
        raise ValueError(f"mean and std must be 3 values each (std > 0), got {mean} / {std}")
    x_all = _as_tensor(clips)
    n = x_all.shape[0]
    t_len = x_all.shape[2]
    movie_bin = check_movie_bin(movie_bin, n, t_len)
    if movie_bin == t_len:
        movie_bin = None  # one condition per clip: the original time average
    within = movie_bin is not None and t_len % movie_bin == 0  # bins never straddle clips
    per_clip = 1 if movie_bin is None else (t_len // movie_bin if within else t_len)
    n_rows = n * per_clip
    dev = torch.device(device) if device is not None else next(net.parameters()).device
    net = net.to(dev)
    mean_t = mean_t.to(dev).view(1, 3, 1, 1, 1)
    std_t = std_t.to(dev).view(1, 3, 1, 1, 1)
    out: dict[str, np.ndarray] = {}
    starts = range(0, n, int(batch_size))
    if progress:
        from .progress import progress as report

        starts = report(starts, desc="features", unit="batch")
    with _eval_mode(net), _tf32(allow_tf32), torch.inference_mode():
        for i in starts:
            x = x_all[i:i + batch_size].to(dev, non_blocking=True)
            acts = net((x - mean_t) / std_t, layers=layers)
            for layer in layers:
                act = acts[layer]  # (B, C, T, H, W)
                if movie_bin is None:
                    a = act.mean(dim=2).flatten(1)
                else:
                    b, c, tt, h, w = act.shape
                    if within and movie_bin > 1:
                        act = act.reshape(b, c, tt // movie_bin, movie_bin, h, w).mean(dim=3)
                    a = act.transpose(1, 2).reshape(b * act.shape[2], c * h * w)  # rows: frames/bins
                a = a.float().cpu().numpy()
                if layer not in out:
                    out[layer] = np.empty((n_rows, a.shape[1]), dtype=np.float32)
                out[layer][i * per_clip:i * per_clip + a.shape[0]] = a
                del act, a
            del acts
    if movie_bin is not None and not within:  # bins straddling clips: average frames
        for layer in layers:
            out[layer] = _bin_frames(out[layer], movie_bin)
    return {layer: out[layer] for layer in layers}


def checkpoint_features(
    entry: ckpt.CheckpointEntry | str,
    clips: torch.Tensor | np.ndarray,
    clips_key: str,
    layers: Sequence[str] = study.LAYERS,
    device: torch.device | str | None = None,
    batch_size: int = 8,
    progress: bool = False,
    movie_bin: int | None = None,
    use_cache: bool = True,
) -> dict[str, np.ndarray]:
    """:func:`extract_features` for one checkpoint, cached on disk.

    ``movie_bin`` is passed on to :func:`extract_features` (and is part of the key unless it
    equals the clip length, which is the default time average). ``use_cache=False``
    computes without reading or writing the cache (the pipeline does this for per-frame
    features, ~0.9 GB per checkpoint at 900 conditions, and caches their RDMs instead).

    The cache key (namespace ``"features"``) holds the checkpoint's SHA-256, ``clips_key``
    (e.g. from :func:`clips_cache_key`), a hash of the clips themselves (so a stale key can
    never return features of other clips), the layers, the clip shape and the network
    conventions (rotation order, ``out`` = sum, time averaging). The device and batch size
    are not part of the key (they change results only at float-rounding level).
    """
    if not isinstance(entry, ckpt.CheckpointEntry):
        entry = ckpt.get_entry(str(entry))
    layers = tuple(layers)
    for layer in layers:
        study.validate_choice("layer", layer, models.OUTPUT_LAYERS)
    x = _as_tensor(clips)
    movie_bin = check_movie_bin(movie_bin, x.shape[0], x.shape[2])
    if movie_bin == x.shape[2]:
        movie_bin = None

    def compute() -> dict[str, np.ndarray]:
        net = models.load_network(entry, device if device is not None else models.select_device())
        mean, std = ckpt.normalisation(entry)
        return extract_features(net, x, mean, std, layers=layers, batch_size=batch_size, progress=progress,
                                movie_bin=movie_bin)

    if not use_cache:
        return compute()
    parts = {
        "checkpoint_sha256": entry.sha256,
        "clips_key": str(clips_key),
        "clips_sha256": cache.hash_array(x.cpu().numpy()),
        "clips_shape": list(x.shape),
        "layers": list(layers),
        "rotation": models.DEFAULT_ROTATION,
        "out": "sum",
        "pool": "time-mean",
    }
    if movie_bin is not None:
        parts["movie_bin"] = movie_bin

    result = cache.get_or_compute("features", parts, compute)
    return {layer: result[layer] for layer in layers}
