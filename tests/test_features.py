"""Stimulus clips, pixel baseline and layer features (incl. the feature cache)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis import checkpoints as C
from analysis import config, features, models, study

from conftest import NO_CHECKPOINTS, checkpoint_paths

CKPTS = checkpoint_paths() or {}
needs_checkpoints = pytest.mark.skipif(not CKPTS, reason=NO_CHECKPOINTS)


# --------------------------------------------------------------------------------------
# Clips
# --------------------------------------------------------------------------------------


def test_scene_clips_static_shape_and_range():
    rng = np.random.default_rng(1)
    tmpl = rng.integers(0, 256, size=(3, 40, 50), dtype=np.uint8)
    clips = features.make_clips(tmpl, "natural_scenes")
    assert clips.shape == (3, 3, 15, 64, 64) and clips.dtype == torch.float32
    assert float(clips.min()) >= 0.0 and float(clips.max()) <= 1.0
    # 15 identical frames, 3 identical channels
    assert torch.equal(clips, clips[:, :1, :1].expand_as(clips))
    assert not torch.equal(clips[0], clips[1])


def test_constant_frames_keep_their_grey_level():
    tmpl = np.full((2, 33, 71), 200, dtype=np.uint8)
    clips = features.make_clips(tmpl, "natural_scenes")
    torch.testing.assert_close(clips, torch.full_like(clips, 200 / 255), atol=1e-6, rtol=0)


def test_movie_clip_k_covers_frames_15k_to_15k_plus_14():
    n = 45
    tmpl = (np.arange(n, dtype=np.uint8) * 5)[:, None, None] * np.ones((1, 20, 40), dtype=np.uint8)
    clips = features.make_clips(tmpl, "natural_movie_one")
    assert clips.shape == (3, 3, 15, 64, 64)
    for k in range(3):
        for j in range(15):
            expected = 5 * (15 * k + j) / 255
            torch.testing.assert_close(clips[k, :, j], torch.full((3, 64, 64), expected), atol=1e-6, rtol=0)


def test_keep_aspect_pads_instead_of_squashing():
    tmpl = np.full((15, 32, 64), 255, dtype=np.uint8)  # 1:2 like the movie (304 x 608)
    clip = features.make_clips(tmpl, "natural_movie_one", keep_aspect=True)[0, 0, 0]
    assert torch.allclose(clip[16:48], torch.ones(32, 64))
    assert torch.allclose(clip[:16], torch.full((16, 64), 0.5))
    assert torch.allclose(clip[48:], torch.full((16, 64), 0.5))
    squashed = features.make_clips(tmpl, "natural_movie_one")[0, 0, 0]
    assert torch.allclose(squashed, torch.ones(64, 64))


def test_squash_resize_known_answer():
    # left half black, right half white, 2:1 wide: squashed, the edge sits at column 32
    tmpl = np.zeros((1, 64, 128), dtype=np.uint8)
    tmpl[:, :, 64:] = 255
    frame = features.make_clips(tmpl, "natural_scenes")[0, 0, 0]
    assert torch.allclose(frame[:, :28], torch.zeros(64, 28), atol=1e-6)
    assert torch.allclose(frame[:, 36:], torch.ones(64, 28), atol=1e-6)
    torch.testing.assert_close(frame[:, 31] + frame[:, 32], torch.ones(64), atol=1e-5, rtol=0)


def test_make_clips_validation():
    ok = np.zeros((15, 8, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match="valid stimulus values: natural_scenes, natural_movie_one"):
        features.make_clips(ok, "natural_movie_four")
    with pytest.raises(TypeError, match="uint8"):
        features.make_clips(ok.astype(np.float32), "natural_scenes")
    with pytest.raises(ValueError, match=r"\(n_frames, height, width\)"):
        features.make_clips(ok[0], "natural_scenes")
    with pytest.raises(ValueError, match="not a multiple of 15"):
        features.make_clips(np.zeros((31, 8, 8), dtype=np.uint8), "natural_movie_one")


def test_clips_cache_key_depends_on_content_and_options():
    a = np.zeros((15, 8, 8), dtype=np.uint8)
    b = a.copy()
    b[0, 0, 0] = 1
    k = features.clips_cache_key(a, "natural_movie_one")
    assert k == features.clips_cache_key(a.copy(), "natural_movie_one")
    assert k != features.clips_cache_key(b, "natural_movie_one")
    assert k != features.clips_cache_key(a, "natural_movie_one", keep_aspect=True)


# --------------------------------------------------------------------------------------
# Pixel baseline
# --------------------------------------------------------------------------------------


def test_pixel_features_known_answer():
    clips = torch.zeros(2, 3, 15, 64, 64)
    for c in range(3):
        for t in range(15):
            clips[0, c, t] = c + t  # mean over c (1) + mean over t (7) = 8
    clips[1, :, :, 5, 7] = 1.0
    pix = features.pixel_features(clips)
    assert pix.shape == (2, 4096) and pix.dtype == np.float32
    np.testing.assert_allclose(pix[0], 8.0, rtol=1e-6)
    assert pix[1, 5 * 64 + 7] == 1.0 and pix[1].sum() == 1.0


def test_pixel_features_of_scene_clips_equal_the_resized_image():
    tmpl = np.random.default_rng(2).integers(0, 256, size=(2, 30, 30), dtype=np.uint8)
    clips = features.make_clips(tmpl, "natural_scenes")
    np.testing.assert_allclose(features.pixel_features(clips), clips[:, 0, 0].reshape(2, -1).numpy(), rtol=0, atol=1e-7)


# --------------------------------------------------------------------------------------
# Network features
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def movie_clips() -> torch.Tensor:
    tmpl = np.random.default_rng(3).integers(0, 256, size=(60, 30, 60), dtype=np.uint8)
    return features.make_clips(tmpl, "natural_movie_one")  # 4 clips


@pytest.fixture(scope="module")
def rat1_net() -> models.VisualNet:
    return models.load_network("rat1", "cpu")


@needs_checkpoints
def test_features_shapes_deterministic_and_batch_size_invariant(rat1_net, movie_clips):
    mean, std = C.normalisation(C.get_entry("rat1"))
    a = features.extract_features(rat1_net, movie_clips, mean, std, batch_size=4)
    b = features.extract_features(rat1_net, movie_clips, mean, std, batch_size=4)
    c = features.extract_features(rat1_net, movie_clips, mean, std, batch_size=1)
    assert list(a) == list(study.LAYERS)
    for layer in study.LAYERS:
        assert a[layer].shape == (4, features.feature_size(layer)) and a[layer].dtype == np.float32
        np.testing.assert_array_equal(a[layer], b[layer])
        np.testing.assert_allclose(a[layer], c[layer], rtol=1e-4, atol=1e-5)
    assert a["s1"].shape[1] == 32768 and a["out"].shape[1] == 16384


@needs_checkpoints
def test_features_are_time_averaged_activations(rat1_net, movie_clips):
    mean, std = C.normalisation(C.get_entry("rat1"))
    f = features.extract_features(rat1_net, movie_clips[:1], mean, std, layers=["p1_res_block2"])
    x = (movie_clips[:1] - torch.tensor(mean).view(1, 3, 1, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        act = rat1_net(x)["p1_res_block2"]
    np.testing.assert_allclose(f["p1_res_block2"][0], act.mean(2).flatten().numpy(), rtol=1e-5, atol=1e-6)


@needs_checkpoints
def test_extract_features_never_updates_batchnorm(rat1_net, movie_clips):
    mean, std = C.normalisation(C.get_entry("rat1"))
    before = {k: v.clone() for k, v in rat1_net.state_dict().items()}
    rat1_net.train()
    try:
        features.extract_features(rat1_net, movie_clips[:2], mean, std, layers=["s1"])
        assert rat1_net.training  # caller's mode restored
    finally:
        rat1_net.eval()
    after = rat1_net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_extract_features_validation():
    net = models.VisualNet().eval()
    clips = torch.zeros(1, 3, 15, 64, 64)
    with pytest.raises(ValueError, match="pixel_features"):
        features.extract_features(net, clips, [0.5] * 3, [0.25] * 3, layers=["pixel"])
    with pytest.raises(ValueError, match="valid layer values"):
        features.extract_features(net, clips, [0.5] * 3, [0.25] * 3, layers=["res_block1"])
    with pytest.raises(ValueError, match="mean and std"):
        features.extract_features(net, clips, [0.5] * 3, [0.0] * 3, layers=["s1"])
    with pytest.raises(ValueError, match="clips must have shape"):
        features.extract_features(net, torch.zeros(3, 15, 64, 64), [0.5] * 3, [0.25] * 3)


@needs_checkpoints
def test_checkpoint_features_are_cached(monkeypatch, tmp_path, movie_clips):
    monkeypatch.setenv("RSA_CACHE", str(tmp_path))
    clips = movie_clips[:2]
    first = features.checkpoint_features("ts1", clips, "test-clips", layers=("s1", "out"), device="cpu")
    assert set(first) == {"s1", "out"} and first["out"].shape == (2, 16384)
    assert list((tmp_path / "features").rglob("*.npz"))

    def boom(*a, **k):
        raise AssertionError("recomputed despite a cache entry")

    monkeypatch.setattr(features, "extract_features", boom)
    again = features.checkpoint_features("ts1", clips, "test-clips", layers=("s1", "out"))
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])
    with pytest.raises(AssertionError, match="recomputed"):  # other clips -> other key
        features.checkpoint_features("ts1", clips.flip(0), "test-clips", layers=("s1", "out"))
    with pytest.raises(AssertionError, match="recomputed"):  # other checkpoint -> other key
        features.checkpoint_features("ts2", clips, "test-clips", layers=("s1", "out"))
