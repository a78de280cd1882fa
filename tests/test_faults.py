"""Fault cases: every expected failure is one line naming what, which file or value and what to do;
exit code 2; nothing written."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from analysis import allen, brain, rdm, responses, study
from analysis.cli import main

RUN = ["run", "--stimulus", "natural_scenes", "--depth", "175", "--areas", "VISp", "--checkpoints", "rat1",
       "--n-boot", "0", "--n-brain-rdms", "3", "--n-splits", "3", "--quiet"]


def _fails(argv, capsys, *needles: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)
    return err


def _nothing_written(results: Path) -> None:
    assert not list(results.rglob("*.csv")) and not list(results.rglob("*.json")), list(results.rglob("*"))


@pytest.fixture()
def damaged_copy(small_cache, tmp_path, monkeypatch, isolated_env, real_checkpoints):
    """A private copy of the small synthetic cache (RSA_DATA points at it) and a fresh cache
    (the runs that meet the damage locate rat1 first: skipped without the checkpoints)."""
    root = tmp_path / "data" / "synthetic"
    shutil.copytree(small_cache, root)
    monkeypatch.setenv("RSA_DATA", str(tmp_path / "data"))
    boc = allen.open_cache("synthetic", root)
    exp = allen.select_experiments(boc, "natural_scenes", "VISp", 175)[0].experiment_id
    return root, exp, isolated_env["RSA_RESULTS"]


def test_repeated_list_values_are_refused_before_any_work(capsys, isolated_env):
    t0 = time.perf_counter()
    _fails(RUN[:-1] + ["--areas", "VISp", "VISp", "VISl", "--quiet"], capsys, "--areas repeated: VISp")
    _fails(["results", "--depths", "175", "175", "--n-boot", "0"], capsys, "--depths repeated: 175")
    _fails(["results", "--stimuli", "natural_scenes", "natural_scenes"], capsys, "--stimuli repeated")
    _fails(["paper", "--protocols", "original", "original"], capsys, "--protocols repeated: original")
    assert time.perf_counter() - t0 < 10
    _nothing_written(isolated_env["RSA_RESULTS"])


def test_a_depth_outside_the_survey_is_a_typo_not_a_new_data_set(capsys, isolated_env):
    err = _fails(["run", "--stimulus", "natural_scenes", "--depth", "999", "--source", "synthetic"], capsys,
                 "999", "175-625")
    assert "imaging planes" in err
    _fails(["synth", "--depths", "1755"], capsys, "1755")
    _nothing_written(isolated_env["RSA_RESULTS"])


@pytest.mark.parametrize("argv, needle", [
    (["run", "--stimulus", "natural_scenes", "--depth", "175", "--jobs", "0"], "--jobs"),
    (["run", "--stimulus", "natural_scenes", "--depth", "175", "--seed", "-1"], "--seed"),
])
def test_bad_numbers_are_refused_at_parse_time_naming_the_option(argv, needle, capsys):
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and ("-1" in err or "0" in err)
    assert time.perf_counter() - t0 < 2


def test_folder_settings_are_checked_at_start(capsys, tmp_path, monkeypatch, isolated_env):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    for var in ("RSA_DATA", "RSA_CACHE", "RSA_RESULTS"):
        with monkeypatch.context() as m:
            m.setenv(var, str(a_file))
            _fails(RUN, capsys, f"${var}", "is a file, not a folder")
    with monkeypatch.context() as m:  # a read-only file system stops even root
        m.setenv("RSA_RESULTS", "/proc/rsa-results")
        t0 = time.perf_counter()
        _fails(RUN, capsys, "/proc/rsa-results", "not writable")
        assert time.perf_counter() - t0 < 5  # refused before any computing
    _nothing_written(isolated_env["RSA_RESULTS"])


@pytest.mark.slow
def test_a_truncated_nwb_names_the_file_and_the_fix(damaged_copy, capsys):
    root, exp, results = damaged_copy
    nwb = root / "ophys_experiment_data" / f"{exp}.nwb"
    nwb.write_bytes(nwb.read_bytes()[:4096])
    _fails(RUN, capsys, str(nwb), "synth --force")
    _nothing_written(results)


@pytest.mark.slow
def test_an_nwb_missing_a_dataset_names_the_file(damaged_copy, capsys):
    import h5py

    root, exp, results = damaged_copy
    nwb = root / "ophys_experiment_data" / f"{exp}.nwb"
    with h5py.File(nwb, "a") as f:
        del f["processing/brain_observatory_pipeline/ImageSegmentation/cell_specimen_ids"]
    _fails(RUN, capsys, str(nwb), "KeyError", "synth --force")
    _nothing_written(results)


@pytest.mark.slow
@pytest.mark.parametrize("garbage", [b"PK\x03\x04 not really a zip", b"\x80\x04garbage pickle"])
def test_a_corrupt_events_file_names_the_file(damaged_copy, capsys, garbage):
    root, exp, results = damaged_copy
    events = root / "ophys_experiment_events" / f"{exp}_events.npz"
    events.write_bytes(garbage)
    err = _fails(RUN, capsys, str(events), "synth --force")
    assert "allow_pickle" not in err  # not numpy's misleading pickle hint alone
    _nothing_written(results)


def test_a_file_damaged_after_a_passed_check_is_checked_again(damaged_copy):
    # the in-process memo of passed checks must not hide a file changed since, even one of
    # the same size whose mtime was set back
    import os
    import re

    root, exp, _ = damaged_copy
    boc = allen.open_cache("synthetic", root)
    allen.check_experiment_files(boc, exp)
    allen.check_experiment_files(boc, exp)  # remembered: passes again
    events = root / "ophys_experiment_events" / f"{exp}_events.npz"
    st = events.stat()
    data = bytearray(events.read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = bytes(64)  # same size, a damaged member
    time.sleep(0.01)
    events.write_bytes(bytes(data))
    os.utime(events, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(allen.DataFileError, match=re.escape(str(events))):
        allen.check_experiment_files(boc, exp)


def test_a_condition_no_cell_responds_to_names_area_stimulus_and_condition():
    r = np.random.default_rng(0).random((4, 6, 10))
    r[:, 2, :] = 0.0  # condition 2: no response in any cell
    with pytest.raises(ValueError, match=r"natural_scenes at 175 um, VISam: condition\(s\) 2 .*no cell of the area"):
        brain.check_defined(rdm.brain_rdms(r, 3, np.random.default_rng(0)), 6, ("natural_scenes", 175, "VISam"))


def test_fewer_presentations_hint_names_the_cli_option():
    import pandas as pd

    table = pd.DataFrame({"frame": [0, 0, 1], "start": [0, 20, 40]})
    with pytest.raises(ValueError, match="--protocol corrected"):
        responses.scene_responses(np.ones((2, 100)), table, window=5, n_images=2, n_trials=2)
    assert study.get_stimulus("natural_scenes").presentations == 50
