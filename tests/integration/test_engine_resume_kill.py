"""`fleetfix run` killed with SIGKILL at random moments, then `fleetfix run --resume` until it
ends by itself, against a real lab in its own process. Issue 6's crash-safety promise.

The test kills the run at least `KILLS` times, each after a random 0.05 to 3 s (seeded; set
FLEETFIX_KILL_SEED to replay another sequence), starting a run when the database has no
unfinished one and `--resume` otherwise. Then it resumes until a run exits by itself and asserts:

1. Final states follow the lab's truth, as in an uninterrupted run: healthy -> healthy;
   affected_up and affected_tamper_protected -> recovered; boot_loop_unreachable and
   bitlocker_recovery -> needs_hands_on; boot_loop_window -> recovered, healthy (the host
   healed itself), needs_hands_on (no window caught in time) or failed (a window closed in the
   middle of the safe-mode cycle, as it does in an uninterrupted run too).
2. No transition lost: per host, ordered by id, each transition's from_state equals the
   previous one's to_state (the first starts from `new`), and host_state equals the last
   transition's to_state.
3. No intent left open: every action row has an outcome, and every action that was open
   right after a kill (read from the database before the next process starts) is closed with
   status `interrupted`.
4. No destructive action ran twice, from the lab's own command history (every command with
   its script text, whether it came as `-EncodedCommand` or on stdin, and its output):
   a. each host's history is complete (nothing fell off its bounded buffer);
   b. every run of crowdstrike-291's remediate.ps1, safe-mode-cycle's enter.ps1 and
      leave.ps1 and `Restart-Computer` that reached a host had its own intent row: per host,
      runs in the lab <= action rows for that step in the store (an action that reached the
      host without an intent would be invisible to `--resume`);
   c. per host, no channel file name appears in the `deleted` list of two remediate.ps1 runs
      (the lab's shell printed that list: it is what the emulated Remove-Item really did);
   d. no remediate.ps1 run deletes anything after crowdstrike-291's verify.ps1 passed on
      that host (exit 0 in the lab's history).
5. Every process that exited by itself exited with a documented run code (0, 6 or 7): a
   traceback on resume is exit 1. And `fleetfix audit verify` passes after all the killing.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetfix.lab import files
from fleetfix.lab.process import LabProcess
from fleetfix.packs import load_packs
from fleetfix.transports.script import last_line_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILLS = 20
HOSTS = 20
SEED = int(os.environ.get("FLEETFIX_KILL_SEED", "291"))
# Fast enough that a safe-mode cycle (two boots) spans a few kills, slow enough that the
# kills land in every phase of it.
TIME_SCALE = 30.0
RUN_OPTIONS = ("--hands-on-after", "10", "--watch-interval", "0.1", "--retry-deadline", "20",
               "--reboot-timeout", "40", "--concurrency", "20")  # fmt: skip
# What `fleetfix run` may exit with when it ends by itself (cli_run.exit_code_for).
RUN_CODES = {0, 6, 7}
_STARTUP_LIMIT = 60.0
_RESUME_LIMIT = 240.0

EXPECTED = {
    "healthy": {"healthy"},
    "affected_up": {"recovered"},
    "affected_tamper_protected": {"recovered"},
    "boot_loop_unreachable": {"needs_hands_on"},
    "bitlocker_recovery": {"needs_hands_on"},
    "boot_loop_window": {"recovered", "healthy", "needs_hands_on", "failed"},
}
PROLOGUE_START = "$ErrorActionPreference = 'Stop'\n$ProgressPreference"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabProcess]:
    with LabProcess.start(tmp_path / "lab", hosts=HOSTS, seed=7, time_scale=TIME_SCALE,
                          limit=_STARTUP_LIMIT) as running:  # fmt: skip
        yield running


def fleetfix_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "fleetfix.cli", *args]


def query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as connection:
        return list(connection.execute(sql, args))


def unfinished_run(db: Path) -> bool:
    rows = query(db, "SELECT 1 FROM runs WHERE command = 'run' AND finished_at IS NULL")
    return bool(rows)


def open_intents(db: Path) -> set[int]:
    return {row[0] for row in query(db, "SELECT id FROM actions WHERE outcome_at IS NULL")}


@dataclass
class Killing:
    kills: int = 0
    started: int = 0
    resumed: int = 0
    exited_by_themselves: list[int] | None = None
    open_after_kill: set[int] | None = None


def kill_and_resume(lab: LabProcess, db: Path, env: dict[str, str], logs: Path) -> Killing:
    rng = random.Random(SEED)
    inventory = lab.paths["inventory_csv"]
    tally = Killing(exited_by_themselves=[], open_after_kill=set())
    assert tally.exited_by_themselves is not None and tally.open_after_kill is not None
    iteration = 0
    while tally.kills < KILLS:
        iteration += 1
        if unfinished_run(db):
            argv = fleetfix_argv("run", "-i", inventory, "--resume", "--json")
            tally.resumed += 1
        else:
            argv = fleetfix_argv("run", "-i", inventory, "--pack", "crowdstrike-291",
                                 *RUN_OPTIONS, "--json")  # fmt: skip
            tally.started += 1
        with (
            (logs / f"{iteration:03}.out").open("w") as out,
            (logs / f"{iteration:03}.err").open("w") as err,
        ):
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
            try:
                code = process.wait(timeout=rng.uniform(0.05, 3.0))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                tally.kills += 1
                tally.open_after_kill |= open_intents(db)
            else:
                tally.exited_by_themselves.append(code)
    # Resume until a run ends by itself (one resume should do; a few are allowed for runs
    # that a kill left finished-but-unrecorded).
    for attempt in range(5):
        if not unfinished_run(db):
            break
        done = subprocess.run(
            fleetfix_argv("run", "-i", inventory, "--resume", "--json"),
            env=env, capture_output=True, text=True, timeout=_RESUME_LIMIT, check=False,
        )  # fmt: skip
        (logs / f"final-{attempt}.err").write_text(done.stderr)
        tally.resumed += 1
        tally.exited_by_themselves.append(done.returncode)
        assert done.returncode in RUN_CODES, done.stderr[-3000:]
    assert not unfinished_run(db), "--resume never finished the run"
    return tally


# --- reading the lab's command history ------------------------------------------------------


def sent_script(record: dict[str, Any]) -> str | None:
    """The PowerShell text a command carried (encoded on the command line or on stdin)."""
    if record["stdin"]:
        return str(record["stdin"]).replace("\r\n", "\n").rstrip("\n")
    command = str(record["command"])
    marker = "-EncodedCommand "
    if marker not in command:
        return None
    blob = command.split(marker, 1)[1].strip()
    return base64.b64decode(blob).decode("utf-16-le").replace("\r\n", "\n").rstrip("\n")


def script_body(text: str) -> str:
    return text.replace("\r\n", "\n").rstrip("\n")


@dataclass(frozen=True)
class Scripts:
    remediate: str
    verify: str
    enter: str
    leave: str
    restart: str = "Restart-Computer -Force"

    @classmethod
    def load(cls) -> Scripts:
        packs = load_packs()
        crowdstrike, cycle = packs["crowdstrike-291"], packs["safe-mode-cycle"]
        steps = {s.name: s for s in cycle.steps}
        remediate = crowdstrike.steps[0].script
        enter, leave = steps["enter-safe-mode"].script, steps["leave-safe-mode"].script
        assert remediate and enter and leave and crowdstrike.verify
        return cls(script_body(remediate.text), script_body(crowdstrike.verify.text),
                   script_body(enter.text), script_body(leave.text))  # fmt: skip

    def which(self, record: dict[str, Any]) -> str | None:
        """Which of the scripts this test follows the command ran, by its exact text after the
        transports' fixed parameter prologue."""
        text = sent_script(record)
        if text is None or not text.startswith(PROLOGUE_START):
            return None
        for name in ("remediate", "verify", "enter", "leave", "restart"):
            if text.endswith("\n" + getattr(self, name)):
                return name
        return None


def lab_history(lab: LabProcess, host: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        fleetfix_argv("lab", "history", host, "--json", "--dir", str(lab.directory)),
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# Which store steps intend which lab script (top level, window-fired and inner-fix ones).
STEP_SUFFIX = {
    "remediate": "crowdstrike-291/delete-bad-channel-files",
    "enter": "safe-mode-cycle/enter-safe-mode",
    "leave": "safe-mode-cycle/leave-safe-mode",
}


def intents_for(db: Path, host: str, script: str) -> int:
    rows = query(db, "SELECT a.step FROM actions a JOIN hosts h ON h.id = a.host_id "
                     "WHERE h.name = ?", host)  # fmt: skip
    if script == "restart":
        return sum(1 for (step,) in rows if step.rsplit("/", 1)[-1].startswith("reboot-to-"))
    return sum(1 for (step,) in rows if step.endswith(STEP_SUFFIX[script]))


# --- the test ------------------------------------------------------------------------------


def test_kill_9_at_random_points_then_resume_loses_nothing_and_repeats_nothing(
    lab: LabProcess, tmp_path: Path
) -> None:
    db = tmp_path / "incident.db"
    env = {**os.environ, **files.read_lab_env(Path(lab.paths["lab_env"])),
           "FLEETFIX_DB": str(db)}  # fmt: skip
    logs = tmp_path / "logs"
    logs.mkdir()

    tally = kill_and_resume(lab, db, env, logs)

    assert tally.kills >= KILLS
    assert tally.exited_by_themselves is not None and tally.open_after_kill is not None
    assert set(tally.exited_by_themselves) <= RUN_CODES, tally.exited_by_themselves

    truth = json.loads(Path(lab.paths["truth"]).read_text())
    conditions = {h["name"]: h["condition"] for h in truth["hosts"]}
    states = dict(query(db, "SELECT h.name, s.state FROM host_state s "
                            "JOIN hosts h ON h.id = s.host_id"))  # fmt: skip

    # 1. final states follow the truth
    wrong = {name: (conditions[name], states.get(name)) for name in conditions
             if states.get(name) not in EXPECTED[conditions[name]]}  # fmt: skip
    assert not wrong, f"hosts in the wrong final state (condition, state): {wrong}"

    # 2. no transition lost
    for name in conditions:
        chain = query(db, "SELECT t.from_state, t.to_state FROM transitions t "
                          "JOIN hosts h ON h.id = t.host_id WHERE h.name = ? ORDER BY t.id",
                      name)  # fmt: skip
        previous = "new"
        for from_state, to_state in chain:
            assert (from_state or "new") == previous, f"{name}: {chain}"
            previous = to_state
        assert states[name] == previous, f"{name}: host_state {states[name]}, chain {chain}"

    # 3. no intent left open; those open at a kill were closed as interrupted
    assert open_intents(db) == set()
    statuses = dict(query(db, "SELECT id, status FROM actions"))
    not_interrupted = {i: statuses[i] for i in tally.open_after_kill
                       if statuses[i] != "interrupted"}  # fmt: skip
    assert not not_interrupted, f"intents open at a kill closed otherwise: {not_interrupted}"

    # 4. no destructive action twice, from the lab's history
    scripts = Scripts.load()
    ran: Counter[str] = Counter()
    for name in conditions:
        history = lab_history(lab, name, env)
        assert history["kept"] == history["received"], f"{name}: history incomplete"
        deleted_files: list[str] = []
        verified_clean = False
        for record in history["commands"]:
            which = scripts.which(record)
            if which is None:
                continue
            ran[which] += 1
            if which == "verify" and record["exit_code"] == 0:
                verified_clean = True
            if which == "remediate":
                report = last_line_json(record["stdout"]) or {}
                deleted = [str(f) for f in report.get("deleted") or []]
                assert not (verified_clean and deleted), (
                    f"{name}: remediate.ps1 deleted {deleted} after verify.ps1 passed"
                )
                deleted_files += deleted
        twice = [f for f, n in Counter(deleted_files).items() if n > 1]
        assert not twice, f"{name}: deleted twice: {twice}"
        for which in ("remediate", "enter", "leave", "restart"):
            in_lab = sum(1 for r in history["commands"] if scripts.which(r) == which)
            intents = intents_for(db, name, which)
            assert in_lab <= intents, f"{name}: {which} ran {in_lab} times, {intents} intents"
    # The scripts were recognised at all (else 4b-d hold vacuously).
    assert ran["remediate"] > 0 and ran["enter"] > 0 and ran["verify"] > 0, ran

    # 5. the audit chain survived
    verified = subprocess.run(fleetfix_argv("audit", "verify"), env=env, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr

    print(f"seed {SEED}: {tally.kills} kills, {tally.started} started, {tally.resumed} resumed, "
          f"{len(tally.open_after_kill)} intents open at kills, lab runs {dict(ran)}")  # fmt: skip
