"""The standalone artifacts, built by the scripts in packaging/ and run the way a jump host
runs them: `fleetfix.pyz` (shiv) and the one-file `fleetfix` binary (PyInstaller).

Each artifact starts a lab itself and reaches every host with `exec`: that loads the lazily
imported commands, the lab's package data, the PowerShell grammar (a compiled extension) and
the transports' TLS stack from inside the artifact, which is what a broken bundle gets wrong.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import fleetfix
from fleetfix.lab import files

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# PyInstaller takes 1-3 minutes on a 2-core box, and both scripts download their build tools.
_BUILD_LIMIT = 900.0
# A first run of the .pyz unpacks its site-packages; a lab of three hosts is up in seconds.
_STARTUP_LIMIT = 90.0
# The six packs under remediations/ that every artifact must carry.
_BUILTIN_PACKS = {
    "bitlocker-protectors",
    "crowdstrike-291",
    "faulty-driver",
    "restart-service",
    "safe-mode-cycle",
    "sensor-health",
}


def _build(script: str, out: Path) -> Path:
    """Run one build script into `out`; a failed build fails the test that needed it."""
    env = {**os.environ, "DIST_DIR": str(out / "dist"), "WORK_DIR": str(out / "work")}
    # The build venv is made from the interpreter running the tests: 3.11+, as fleetfix needs.
    env["PYTHON"] = sys.executable
    completed = subprocess.run(
        ["bash", str(REPO / "packaging" / script)],
        capture_output=True,
        text=True,
        timeout=_BUILD_LIMIT,
        env=env,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(f"{script} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return out / "dist"


@pytest.fixture(scope="module")
def zipapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("build_zipapp.sh", tmp_path_factory.mktemp("zipapp")) / "fleetfix.pyz"


@pytest.fixture(scope="module")
def onefile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("build_pyinstaller.sh", tmp_path_factory.mktemp("pyinstaller")) / "fleetfix"


def _jump_host_env(home: Path) -> dict[str, str]:
    """The environment of a jump host that never saw the development venv: its bin/ is off
    PATH, so the .pyz's `/usr/bin/env python3` finds a plain interpreter, and no user site
    or PYTHONPATH can supply a module the artifact forgot."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEETFIX_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    # shiv unpacks to SHIV_ROOT (default ~/.shiv): a fresh one tests the first-run unpack.
    return {**env, "PATH": path, "PYTHONNOUSERSITE": "1", "SHIV_ROOT": str(home / "shiv")}


@pytest.fixture(params=["zipapp", "onefile"])
def artifact(request: pytest.FixtureRequest) -> Path:
    built = request.getfixturevalue(request.param)
    assert isinstance(built, Path)
    return built


def _run(artifact: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(
        [str(artifact), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env or _jump_host_env(cwd),
        check=False,
    )
    assert completed.returncode == 0, f"{args}: {completed.stderr}"
    return completed.stdout


def test_version_is_the_package_version(artifact: Path, tmp_path: Path) -> None:
    assert _run(artifact, "--version", cwd=tmp_path).strip() == (
        f"fleetfix, version {fleetfix.__version__}"
    )


@pytest.mark.parametrize("command", ["lab", "probe", "run", "exec", "key", "export", "doctor"])
def test_lazily_loaded_command_loads(artifact: Path, command: str, tmp_path: Path) -> None:
    assert _run(artifact, command, "--help", cwd=tmp_path).startswith("Usage: ")


def test_packs_list_shows_the_builtin_packs(artifact: Path, tmp_path: Path) -> None:
    listed = json.loads(_run(artifact, "packs", "list", "--json", cwd=tmp_path))
    assert {pack["id"] for pack in listed} == _BUILTIN_PACKS


@pytest.fixture
def lab_dir(artifact: Path, tmp_path: Path) -> Iterator[Path]:
    """A three-host lab started by the artifact itself, stopped with SIGTERM as a user would."""
    directory = tmp_path / "lab"
    args = ["lab", "up", "--hosts", "3", "--scenario", "service-outage", "--dir", str(directory)]
    args += ["--ssh-port", "0", "--winrm-port", "0", "--winrms-port", "0"]
    lab = subprocess.Popen(
        [str(artifact), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=_jump_host_env(tmp_path),
    )
    try:
        assert lab.stdout is not None and lab.stderr is not None
        ready, _, _ = select.select([lab.stdout], [], [], _STARTUP_LIMIT)
        line = lab.stdout.readline() if ready else ""
        if not line:
            lab.kill()
            raise AssertionError(f"lab up printed no JSON line: {lab.stderr.read()}")
        assert json.loads(line)["hosts"] == 3
        yield directory
    finally:
        if lab.poll() is None:
            lab.send_signal(signal.SIGTERM)
            assert lab.wait(timeout=30) == 0


def test_artifact_runs_a_lab_and_execs_on_every_host(
    artifact: Path, lab_dir: Path, tmp_path: Path
) -> None:
    env = {**_jump_host_env(tmp_path), **files.read_lab_env(lab_dir / "lab.env")}
    inventory = lab_dir / "inventory.csv"
    names = [line.split(",")[0] for line in inventory.read_text().splitlines()[1:]]
    output = _run(artifact, "exec", "-i", str(inventory), "--", "hostname", cwd=tmp_path, env=env)
    assert len(names) == 3
    for name in names:
        assert f"{name} | ok | rc=0 | {name}" in output
