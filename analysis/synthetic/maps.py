"""Stimulus feature maps on a coarse grid (the inputs of the neural model)."""

from __future__ import annotations

import numpy as np

from .design import N_CHANNELS


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    import cv2

    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def stimulus_features(template: np.ndarray, grid: tuple[int, int], temporal: bool) -> np.ndarray:
    """Feature maps of a stimulus template.

    Parameters
    ----------
    template:
        ``uint8 (items, h, w)``.
    grid:
        ``(gh, gw)`` output grid.
    temporal:
        Fill the temporal-change channel (|frame t - frame t-1|; movies only).

    Returns
    -------
    np.ndarray
        ``float32 (items, N_CHANNELS, gh, gw)``: lum ON, lum OFF, oriented energy at
        0/45/90/135 deg, contrast energy, temporal change; each channel scaled to
        unit standard deviation over items and positions (zero channels stay zero).
    """
    import cv2

    gh, gw = grid
    n = template.shape[0]
    hi = np.stack([_resize(im, 2 * gh, 2 * gw) for im in template]).astype(np.float32) / 255.0
    out = np.zeros((n, N_CHANNELS, gh, gw), np.float32)
    thetas = np.deg2rad([0, 45, 90, 135])
    prev = None
    for i in range(n):
        img = hi[i]
        lum = _resize(img - 0.5, gh, gw)
        out[i, 0] = np.maximum(lum, 0)
        out[i, 1] = np.maximum(-lum, 0)
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
        for k, th in enumerate(thetas):
            out[i, 2 + k] = _resize((np.cos(th) * gx + np.sin(th) * gy) ** 2, gh, gw)
        blur = cv2.GaussianBlur(img, (0, 0), 3.0)
        out[i, 6] = _resize(np.abs(img - blur), gh, gw)
        if temporal and prev is not None:
            out[i, 7] = _resize(np.abs(img - prev), gh, gw)
        prev = img
    if temporal and n > 1:
        out[0, 7] = out[1, 7]
    sd = out.std(axis=(0, 2, 3))
    out /= np.where(sd > 0, sd, 1.0)[None, :, None, None]
    return out
