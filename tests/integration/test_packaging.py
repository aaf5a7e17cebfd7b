"""The built wheel installs into a clean virtual environment and its command runs."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import fleetfix

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("fleetfix-*.whl")
    return built


@pytest.mark.slow
def test_wheel_puts_nothing_generic_in_site_packages(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        top_levels = {name.split("/")[0] for name in archive.namelist()}
        names = set(archive.namelist())
    assert {t for t in top_levels if not t.endswith(".dist-info")} == {"fleetfix"}
    assert "fleetfix/tui/__init__.py" in names
    assert any(name.startswith("fleetfix/remediations/") for name in names)


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_reports_its_version(
    wheel: Path, tmp_path: Path
) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = env_dir / "bin" / "pip"
    subprocess.run(
        [str(pip), "install", "--quiet", str(wheel)], check=True, capture_output=True, timeout=900
    )
    completed = subprocess.run(
        [str(env_dir / "bin" / "fleetfix"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert completed.stdout.strip() == f"fleetfix, version {fleetfix.__version__}"
    # The packs are data under a namespace package: found from the installed wheel, not the repo.
    listed = subprocess.run(
        [str(env_dir / "bin" / "fleetfix"), "packs", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert {pack["id"] for pack in json.loads(listed.stdout)} >= {"crowdstrike-291"}
    assert all(str(env_dir) in pack["folder"] for pack in json.loads(listed.stdout))
