"""Quiet, readable logs: progress bars only on a terminal; no AllenSDK start-up warning."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from tqdm.std import tqdm as std_tqdm

from analysis import progress as prog


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_tty_writes_lines_without_carriage_returns(capsys, monkeypatch):
    monkeypatch.delenv(prog.ENV_PROGRESS, raising=False)
    items = list(prog.progress(range(20), desc="features", unit="batch"))
    assert items == list(range(20))
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert lines[0] == "features: start (20 batch)"
    assert lines[-1].startswith("features: done, 20 batch in ") and lines[-1].endswith(" s")
    steps = lines[1:-1]
    # one line per reported ~10 % step: 2/20, 4/20, ..., 18/20 (the end has its own line)
    assert [s.split()[1] for s in steps] == [f"{k}/20" for k in range(2, 20, 2)]
    assert all(s.startswith("features: ") and s.endswith(" s") for s in steps)


def test_manual_updates_and_few_lines_for_many_steps(capsys, monkeypatch):
    monkeypatch.delenv(prog.ENV_PROGRESS, raising=False)
    with prog.progress(total=1000, desc="sessions", unit="session") as bar:
        for _ in range(1000):
            bar.update(1)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 11  # start, 9 steps of 10 %, done
    assert lines[5].startswith("sessions: 500/1000 session (50 %), ")


def test_unknown_total_only_start_and_end(capsys):
    bar = prog.LineProgress(total=None, desc="x.nwb", unit="B", unit_scale=True)
    bar.update(3 * 1024 ** 2)
    bar.close()
    bar.close()  # once only
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "x.nwb: start"
    assert lines[1].startswith("x.nwb: done, 3.00M B in ")
    assert len(lines) == 2


def test_disable_reports_nothing(capsys):
    assert list(prog.progress(range(3), desc="quiet", disable=True)) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_terminal_gets_a_tqdm_bar(monkeypatch):
    monkeypatch.delenv(prog.ENV_PROGRESS, raising=False)
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    bar = prog.progress(range(5), desc="features", unit="batch")
    assert isinstance(bar, std_tqdm)
    assert list(bar) == list(range(5))
    assert "\r" in tty.getvalue()


def test_rsa_progress_0_turns_the_bar_off(monkeypatch):
    monkeypatch.setenv(prog.ENV_PROGRESS, "0")
    tty = FakeTTY()
    bar = prog.progress(range(3), desc="d", stream=tty)
    assert isinstance(bar, prog.LineProgress)
    list(bar)
    assert "\r" not in tty.getvalue()


@pytest.mark.parametrize("code", [
    "import analysis.allen\nfrom allensdk.core.brain_observatory_cache import BrainObservatoryCache",
])
def test_allensdk_pkg_resources_warning_is_filtered(code):
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "pkg_resources" not in run.stderr


def test_the_filter_is_narrow():
    # the same message from anything but AllenSDK still shows
    code = ("import analysis, warnings\n"
            "warnings.warn_explicit('pkg_resources is deprecated as an API', UserWarning, 'x.py', 1,"
            " module='other')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "pkg_resources is deprecated" in run.stderr
