"""Known-answer tests of response-tensor construction on hand-made event traces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import responses


def scene_table(order: list[int], frames_per: int = 8, start0: int = 3) -> pd.DataFrame:
    starts = start0 + frames_per * np.arange(len(order))
    return pd.DataFrame({"frame": order, "start": starts, "end": starts + frames_per - 1})


def test_scene_window_sum_known_answer():
    # 2 images x 2 presentations, interleaved with a blank; events = frame index for cell 0,
    # constant 1 for cell 1, so a window sum is an arithmetic series / the window length.
    order = [1, -1, 0, 1, 0]
    table = scene_table(order, frames_per=4, start0=2)  # starts 2, 6, 10, 14, 18
    n_frames = 40
    events = np.vstack([np.arange(n_frames, dtype=float), np.ones(n_frames)])
    out = responses.scene_responses(events, table, window=5, n_images=2, n_trials=2)
    assert out.shape == (2, 2, 2)
    # image 0 presented at starts 10 and 18; image 1 at 2 and 14 (time order kept)
    assert out[0, 0, 0] == sum(range(10, 15))
    assert out[1, 0, 0] == sum(range(18, 23))
    assert out[0, 1, 0] == sum(range(2, 7))
    assert out[1, 1, 0] == sum(range(14, 19))
    assert np.all(out[:, :, 1] == 5)


def test_scene_window_spans_next_presentation_and_is_cut_at_end():
    table = scene_table([0, 1], frames_per=4, start0=0)  # starts 0, 4
    events = np.ones((1, 10))
    out = responses.scene_responses(events, table, window=15, n_images=2, n_trials=1)
    assert out[0, 0, 0] == 10  # frames 0..9 only: the recording ends
    assert out[0, 1, 0] == 6  # frames 4..9


def test_scene_unsorted_table_uses_time_order():
    table = scene_table([0, 0, 0], frames_per=5).iloc[::-1]
    events = np.arange(30, dtype=float)[None]
    out = responses.scene_responses(events, table, window=1, n_images=1, n_trials=3)
    assert list(out[:, 0, 0]) == [3, 8, 13]


def test_scene_missing_presentations():
    table = scene_table([0, 1, 0])
    events = np.ones((3, 40))
    with pytest.raises(ValueError, match="image 1 has 1 presentations, fewer than the 2"):
        responses.scene_responses(events, table, window=15, n_images=2, n_trials=2)
    out = responses.scene_responses(events, table, window=15, n_images=2, n_trials=2, missing="nan")
    assert np.isnan(out[1, 1]).all() and not np.isnan(out[:, 0]).any()


def test_nan_events_are_refused():
    events = np.ones((2, 20))
    events[1, 3] = np.nan
    with pytest.raises(ValueError, match="1 non-finite values in 1 cells"):
        responses.scene_responses(events, scene_table([0]), window=15, n_images=1, n_trials=1)


def movie_table(n_frames: int, n_repeats: int, start0: int = 5) -> pd.DataFrame:
    frame = np.tile(np.arange(n_frames), n_repeats)
    repeat = np.repeat(np.arange(n_repeats), n_frames)
    start = start0 + np.arange(n_frames * n_repeats) + 3 * repeat  # a gap between repeats
    return pd.DataFrame({"frame": frame, "start": start, "end": start + 1, "repeat": repeat})


def test_movie_frame_samples_known_answer():
    n_frames, n_repeats = 6, 3
    table = movie_table(n_frames, n_repeats)
    events = np.vstack([np.arange(100, dtype=float), -np.arange(100, dtype=float)])
    out = responses.movie_frame_responses(events, table, n_frames=n_frames, n_repeats=n_repeats)
    assert out.shape == (3, 6, 2)
    expected = 5 + np.arange(18).reshape(3, 6) + 3 * np.arange(3)[:, None]
    np.testing.assert_array_equal(out[:, :, 0], expected)
    np.testing.assert_array_equal(out[:, :, 1], -expected)


def test_movie_binning_means_blocks():
    x = np.arange(2 * 6 * 1, dtype=float).reshape(2, 6, 1)
    out = responses.bin_conditions(x, 3)
    np.testing.assert_array_equal(out[:, :, 0], [[1, 4], [7, 10]])
    with pytest.raises(ValueError, match="cannot bin 6 conditions into blocks of 4"):
        responses.bin_conditions(x, 4)


def test_movie_responses_default_shape():
    table = movie_table(900, 10)
    events = np.random.default_rng(0).random((4, 10_000))
    out = responses.movie_responses(events, table, movie_bin=15, n_frames=900, n_repeats=10)
    assert out.shape == (10, 60, 4)
    frames = responses.movie_frame_responses(events, table, n_frames=900, n_repeats=10)
    np.testing.assert_allclose(out[:, 1], frames[:, 15:30].mean(axis=1))


def test_session_tensor_reads_counts_from_the_stimulus_and_settings_from_the_protocol():
    """One function for every stimulus and protocol: counts from the Stimulus record,
    window/latency/missing from the Protocol (a 10-frame window sums 10 frames)."""
    import dataclasses

    from analysis import protocols, study

    scenes, movie = study.get_stimulus("natural_scenes"), study.get_stimulus("natural_movie_three")
    rng = np.random.default_rng(1)
    events = rng.random((3, 200_000))
    starts = np.arange(118 * 50) * 8
    table = pd.DataFrame({"frame": np.tile(np.arange(118), 50), "start": starts, "end": starts + 7})
    w10 = dataclasses.replace(protocols.ORIGINAL, name="w10", scene_window=10)
    r15 = responses.session_tensor(events, table, scenes, protocols.ORIGINAL)
    r10 = responses.session_tensor(events, table, scenes, w10)
    assert r15.shape == r10.shape == (50, 118, 3)
    s0 = int(table.start.iloc[0])
    np.testing.assert_allclose(r10[0, 0], events[:, s0:s0 + 10].sum(axis=1))
    # the original protocol sums in float32, as its float32 event traces were summed
    np.testing.assert_array_equal(r15[0, 0], events[:, s0:s0 + 15].astype(np.float32).sum(axis=1))
    mt = movie_table(3600, 5)
    out = responses.session_tensor(events, mt, movie, protocols.CORRECTED)  # latency 3 frames
    assert out.shape == (5, 3600, 3)
    row = mt.iloc[7]
    np.testing.assert_array_equal(out[int(row["repeat"]), int(row["frame"])], events[:, int(row["start"]) + 3])


def test_movie_missing_frame():
    table = movie_table(6, 2).drop(index=7)
    with pytest.raises(ValueError, match="misses 1 of 12 .* repeat 1, frame 1"):
        responses.movie_frame_responses(np.ones((1, 50)), table, n_frames=6, n_repeats=2)


def test_pool_neurons_concatenates_and_checks():
    a, b = np.zeros((2, 3, 4)), np.ones((2, 3, 5))
    pooled = responses.pool_neurons([a, b])
    assert pooled.shape == (2, 3, 9) and pooled[..., 4:].all() and not pooled[..., :4].any()
    with pytest.raises(ValueError, match="disagree"):
        responses.pool_neurons([a, np.ones((3, 3, 1))])


@pytest.mark.parametrize("window", [1, 2, 7, 8, 9, 15, 16, 17, 64, 129, 300])
def test_float32_window_sums_are_each_slices_own_numpy_sum(window):
    # the gathered reduction must be bit-identical to summing every (cells, window) slice on
    # its own, for window lengths on both sides of numpy's unrolled (8) and blocked (128) loops,
    # with the last windows cut at the end of the recording
    rng = np.random.default_rng(window)
    n_frames = 2000
    events = (rng.gamma(2.0, 1.0, (37, n_frames)) * (rng.random((37, n_frames)) < 0.3)).astype(np.float32)
    starts = np.sort(rng.choice(n_frames - 1, size=30, replace=False))
    starts[-1] = n_frames - 3  # cut short by the end of the recording
    table = pd.DataFrame({"frame": np.tile(np.arange(3), 10), "start": starts})
    out = responses.scene_responses(events, table, window=window, n_images=3, n_trials=10, event_sum="float32")
    for k, s in enumerate(starts):
        want = events[:, s:min(s + window, n_frames)].sum(axis=1).astype(np.float64)
        np.testing.assert_array_equal(out[k // 3, k % 3], want)


def test_float64_sums_of_a_float32_trace_are_those_of_its_float64_copy():
    # the float64 path casts a float32 trace value by value inside the cumulative sum; that
    # must give exactly the sums of the trace converted to float64 first
    rng = np.random.default_rng(11)
    events = (rng.gamma(2.0, 1.0, (20, 5000)) * (rng.random((20, 5000)) < 0.3)).astype(np.float32)
    table = pd.DataFrame({"frame": np.tile(np.arange(4), 25), "start": np.arange(100) * 49 + 5})
    a = responses.scene_responses(events, table, window=8, n_images=4, n_trials=25, latency=3)
    b = responses.scene_responses(events.astype(np.float64), table, window=8, n_images=4, n_trials=25, latency=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a[0, 0], events.astype(np.float64)[:, 5 + 3:5 + 3 + 8].sum(axis=1), rtol=1e-12)
