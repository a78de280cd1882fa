"""Faithful to the original's code: its row-0 noise ceiling, its resizing, its float32 sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import features, protocols, rdm, responses


def _tau_a(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-a by brute force: (concordant - discordant) / (n (n - 1) / 2)."""
    n = len(x)
    s = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i in range(n) for j in range(i + 1, n))
    return float(s) / (n * (n - 1) / 2)


def _corr_dist(p: np.ndarray) -> np.ndarray:
    """Full correlation-distance matrix of ``(conditions, cells)`` patterns, by hand."""
    c = p - p.mean(axis=1, keepdims=True)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    return 1 - c @ c.T


def _by_hand(r: np.ndarray, first: np.ndarray) -> tuple[float, float]:
    """(row-0 tau-a, full-RDM tau-a) of one split, from first principles."""
    second = np.setdiff1d(np.arange(r.shape[0]), first)
    a, b = _corr_dist(r[first].mean(0)), _corr_dist(r[second].mean(0))
    m = r.shape[1]
    iu = np.triu_indices(m, 1)
    return _tau_a(a[0, 1:], b[0, 1:]), _tau_a(a[iu], b[iu])


def _tensor(reliable_first: bool, seed: int = 0) -> np.ndarray:
    """(10 trials, 12 conditions, 40 cells): stable tuning plus noise; condition 0 pure noise unless
    ``reliable_first``."""
    rng = np.random.default_rng(seed)
    tuning = rng.normal(size=(12, 40)) * 3
    if not reliable_first:
        tuning[0] = 0.0
    return tuning[None] + rng.normal(size=(10, 12, 40))


@pytest.mark.parametrize("reliable_first", [True, False])
def test_each_ceiling_estimator_matches_its_definition_by_hand(reliable_first):
    r = _tensor(reliable_first)
    got = rdm.split_half_ceilings(r, 5, np.random.default_rng(3))
    halves = rdm.half_splits(10, 5, np.random.default_rng(3))  # the same draws
    for i, first in enumerate(halves):
        row0, full = _by_hand(r, first)
        assert got["row0"][i] == pytest.approx(row0, abs=1e-12)
        assert got["split_half"][i] == pytest.approx(full, abs=1e-12)
        assert got["spearman_brown"][i] == pytest.approx(2 * full / (1 + full), abs=1e-12)


def test_row0_and_full_rdm_ceilings_differ_when_condition_0_is_unreliable():
    """The original's ceiling rests on condition 0 alone: with an unreliable first image it
    collapses while the full-RDM ceiling (what the original described) stays high."""
    noisy = rdm.split_half_ceilings(_tensor(False), 20, np.random.default_rng(1))
    clean = rdm.split_half_ceilings(_tensor(True), 20, np.random.default_rng(1))
    assert np.median(noisy["split_half"]) > 0.5 and np.median(clean["split_half"]) > 0.5
    assert abs(np.median(noisy["row0"])) < 0.3 < np.median(clean["row0"])
    assert np.std(noisy["row0"]) > np.std(noisy["split_half"])  # M-1 values, not M(M-1)/2
    assert (noisy["spearman_brown"] >= noisy["split_half"]).all()


def test_the_original_protocol_uses_the_row0_estimator_and_float32_sums():
    assert protocols.ORIGINAL.ceiling == "row0" and protocols.ORIGINAL.event_sum == "float32"
    assert protocols.CORRECTED.ceiling == "spearman_brown" and protocols.CORRECTED.event_sum == "float64"


def _aa_bilinear_reference(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Antialiased bilinear resize (align_corners=False) written from its definition: for an
    output pixel centred at ``(i + 0.5) * scale`` in input coordinates, the triangle filter
    ``max(0, 1 - |x - centre| / support)`` with ``support = max(scale, 1)``, over input pixel
    centres ``j + 0.5`` inside the image, normalised to sum 1 (PIL's and torch's algorithm)."""
    def weights(n_in: int, n_out: int) -> np.ndarray:
        scale = n_in / n_out
        support = max(scale, 1.0)
        w = np.zeros((n_out, n_in))
        for i in range(n_out):
            centre = (i + 0.5) * scale
            lo, hi = int(max(0, np.floor(centre - support))), int(min(n_in, np.ceil(centre + support)))
            j = np.arange(lo, hi)
            k = np.maximum(0.0, 1 - np.abs(j + 0.5 - centre) / support)
            w[i, lo:hi] = k / k.sum()
        return w

    return weights(img.shape[0], out_h) @ img @ weights(img.shape[1], out_w).T


def test_resize_is_torchs_antialiased_bilinear_on_unit_floats():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(1, 91, 117), dtype=np.uint8)
    got = features.resize_frames(frame)
    assert got.shape == (1, 64, 64) and got.dtype == np.float32
    ref = _aa_bilinear_reference(frame[0].astype(np.float64) / 255, 64, 64)
    np.testing.assert_allclose(got[0], ref, atol=2e-6)
    # not scikit-image's Gaussian-prefiltered resize (what the project used before)
    from skimage.transform import resize

    sk = resize(frame[0] / 255, (64, 64), order=1, anti_aliasing=True, mode="reflect")
    assert np.abs(sk - ref).max() > 1e-2


def test_a_clip_is_resized_together_and_each_frame_as_alone():
    rng = np.random.default_rng(1)
    clip = rng.integers(0, 256, size=(15, 40, 80), dtype=np.uint8)
    together = features.resize_frames(clip)
    alone = np.concatenate([features.resize_frames(clip[i:i + 1]) for i in range(15)])
    np.testing.assert_array_equal(together, alone)
    padded = features.resize_frames(clip[:1], keep_aspect=True, pad_value=0.5)
    assert padded.shape == (1, 64, 64)
    assert np.all(padded[0, :16] == 0.5) and np.all(padded[0, -16:] == 0.5)  # 40 x 80 -> 32 x 64, centred
    np.testing.assert_allclose(padded[0, 16:48], _aa_bilinear_reference(clip[0] / 255, 32, 64), atol=2e-6)


def test_make_clips_uses_the_same_resize():
    rng = np.random.default_rng(2)
    scenes = rng.integers(0, 256, size=(3, 50, 70), dtype=np.uint8)
    clips = features.make_clips(scenes, "natural_scenes")
    np.testing.assert_array_equal(clips[:, 0, 0].numpy(),
                                  np.concatenate([features.resize_frames(s[None]) for s in scenes]))
    assert features.clips_cache_key(scenes, "natural_scenes").endswith(f"resize={features.RESIZE}")


def test_float32_event_sums_are_numpys_float32_sums():
    rng = np.random.default_rng(4)
    events = (rng.random((5, 3000)) * (rng.random((5, 3000)) < 0.2) * 3).astype(np.float32)
    starts = np.arange(40) * 31 + 7
    table = pd.DataFrame({"frame": np.tile(np.arange(4), 10), "start": starts})
    r32 = responses.scene_responses(events, table, window=15, n_images=4, n_trials=10, event_sum="float32")
    r64 = responses.scene_responses(events, table, window=15, n_images=4, n_trials=10)
    for k in (0, 13, 39):
        img, trial = k % 4, k // 4
        s = starts[k]
        np.testing.assert_array_equal(r32[trial, img], events[:, s:s + 15].sum(axis=1).astype(np.float64))
        np.testing.assert_allclose(r64[trial, img], events[:, s:s + 15].astype(np.float64).sum(axis=1), rtol=1e-12)
    assert 0 < np.abs(r32 - r64).max() < 1e-4  # float32 rounding, of the order the reference notes
