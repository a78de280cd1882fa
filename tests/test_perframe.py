"""Per-frame movie features (movie_bin) and pipeline-level cache behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis import features, models, pipeline, responses

pytestmark = pytest.mark.usefixtures("real_checkpoints")  # end to end: needs the ten checkpoints

MEAN, STD = (0.4, 0.45, 0.5), (0.2, 0.25, 0.3)


@pytest.fixture(scope="module")
def net_and_clips():
    torch.manual_seed(0)
    net = models.VisualNet().eval()
    movie = np.random.default_rng(3).integers(0, 256, size=(45, 24, 40), dtype=np.uint8)
    clips = features.make_clips(movie, "natural_movie_one")  # 3 clips of 15 frames
    return net, clips


LAYERS = ("s1", "p1_res_block2", "out")


def test_movie_bin_15_is_exactly_the_clip_average(net_and_clips):
    net, clips = net_and_clips
    ref = features.extract_features(net, clips, MEAN, STD, layers=LAYERS, batch_size=2)
    b15 = features.extract_features(net, clips, MEAN, STD, layers=LAYERS, batch_size=2, movie_bin=15)
    for layer in LAYERS:
        assert b15[layer].shape == (3, features.feature_size(layer))
        assert np.array_equal(b15[layer], ref[layer])  # bit for bit
    assert np.array_equal(features.pixel_features(clips, 15), features.pixel_features(clips))


def test_per_frame_rows_are_time_steps_and_bins_are_their_means(net_and_clips):
    net, clips = net_and_clips
    per = features.extract_features(net, clips, MEAN, STD, layers=LAYERS, batch_size=2, movie_bin=1)
    ref = features.extract_features(net, clips, MEAN, STD, layers=LAYERS, batch_size=3)
    with torch.inference_mode():
        x = (clips[1:2] - torch.tensor(MEAN).view(1, 3, 1, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1, 1)
        acts = net(x, layers=LAYERS)
    for layer in LAYERS:
        assert per[layer].shape == (45, features.feature_size(layer))
        # frame 15 + 4 is time step 4 of clip 1, flattened (channel, height, width)
        np.testing.assert_allclose(per[layer][19], acts[layer][0, :, 4].flatten().numpy(), rtol=1e-5, atol=1e-6)
        # the mean of a clip's 15 frames is the original clip feature
        np.testing.assert_allclose(per[layer].reshape(3, 15, -1).mean(1), ref[layer], rtol=1e-5, atol=1e-6)
    for b in (3, 5, 9, 45):  # within clips (3, 5) and across clip boundaries (9, 45)
        binned = features.extract_features(net, clips, MEAN, STD, layers=("out",), movie_bin=b)["out"]
        assert binned.shape == (45 // b, features.feature_size("out"))
        np.testing.assert_allclose(binned, per["out"].reshape(45 // b, b, -1).mean(1), rtol=1e-5, atol=1e-6)
    px = features.pixel_features(clips, 1)
    assert px.shape == (45, 64 * 64)
    np.testing.assert_allclose(px[19], clips[1, :, 4].mean(0).flatten().numpy(), rtol=1e-6)
    np.testing.assert_allclose(features.pixel_features(clips, 9), px.reshape(5, 9, -1).mean(1), rtol=1e-6)
    with pytest.raises(ValueError, match="movie_bin must divide the 45 frames"):
        features.extract_features(net, clips, MEAN, STD, layers=("out",), movie_bin=7)


def _cfg(**kw) -> pipeline.RunConfig:
    base = dict(stimulus="natural_movie_one", depth=175, areas=("VISp",), checkpoint_names=("rat1",),
                n_brain_rdms=3, n_splits=3, movie_bin=5)
    return pipeline.RunConfig(**{**base, **kw})


@pytest.mark.slow
def test_binned_movie_pipeline_and_what_each_parameter_recomputes(small_cache, isolated_env, monkeypatch):
    calls = {"net": 0, "frames": 0, "brain": 0, "tau": 0}

    def counting(name, fn):
        def wrapped(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapped

    monkeypatch.setattr(features, "extract_features", counting("net", features.extract_features))
    monkeypatch.setattr(responses, "movie_frame_responses", counting("frames", responses.movie_frame_responses))
    monkeypatch.setattr(pipeline.rdm, "brain_rdms", counting("brain", pipeline.rdm.brain_rdms))
    monkeypatch.setattr(pipeline.compare, "tau_a", counting("tau", pipeline.compare.tau_a))

    t1, _ = pipeline.compute_table(_cfg(), progress=False)
    assert (t1.n_conditions == 180).all()
    first = dict(calls)
    assert first["net"] == 1 and first["frames"] > 0 and first["brain"] == 1 and first["tau"] == 1
    # the binned brain responses equal binning each session (movie_responses)
    boc = pipeline.allen.open_cache("synthetic")
    area = pipeline.area_responses(boc, _cfg(), "VISp")
    exps = pipeline.allen.select_experiments(boc, "natural_movie_one", "VISp", 175)
    direct = responses.pool_neurons([
        responses.movie_responses(s.events, s.stim_table, movie_bin=5, n_frames=900, n_repeats=10)
        for s in (pipeline.allen.load_session(boc, e.experiment_id, "natural_movie_one") for e in exps)])
    assert np.array_equal(area.responses, direct)

    # same run again: everything from the cache (scores included: no tau-a), identical table
    before = dict(calls)
    t2, _ = pipeline.compute_table(_cfg(), progress=False)
    assert calls == before and t2.equals(t1)
    # other inference settings reuse the scores: only the bootstrap is new
    t2b, _ = pipeline.compute_table(_cfg(n_boot=7), progress=False)
    assert calls == before and t2b.score.equals(t1.score)

    # another seed: brain draws only; no network, no new model RDM, no response loading
    model_dir = isolated_env["RSA_CACHE"] / "model_rdms"
    n_model_entries = len(list(model_dir.rglob("*.npz")))
    pipeline.compute_table(_cfg(seed=7), progress=False)
    assert calls["brain"] == before["brain"] + 1 and calls["tau"] == before["tau"] + 1  # new brain RDMs
    assert (calls["net"], calls["frames"]) == (before["net"], before["frames"])
    assert len(list(model_dir.rglob("*.npz"))) == n_model_entries

    # another movie_bin: network and model RDMs again, but no response loading
    before = dict(calls)
    entries_before = set(model_dir.rglob("*.npz"))
    t3, _ = pipeline.compute_table(_cfg(movie_bin=3), progress=False)
    assert (t3.n_conditions == 300).all()
    assert calls["frames"] == before["frames"] and calls["net"] == before["net"] + 1

    # a corrupt model-RDM entry (one this run reads) is detected and recomputed, giving the same table
    entry = sorted(set(model_dir.rglob("*.npz")) - entries_before)[0]
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2])  # truncated
    t4, _ = pipeline.compute_table(_cfg(movie_bin=3), progress=False)
    assert t4.equals(t3)
    assert entry.exists() and entry.read_bytes() != data[: len(data) // 2]
