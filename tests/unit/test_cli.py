"""The `fleetfix` command end to end: a real inventory file into a real SQLite file."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetfix.cli import EXIT_AUDIT, EXIT_CODES, EXIT_INVENTORY, EXIT_USAGE, main

CSV = (
    "\ufeffHostname;IP;Site;Role;Tags\r\n"
    "PACS-01;127.77.0.1;Leeds;PACS;critical|imaging\r\n"
    "RIS-01;127.77.0.2;Leeds;RIS;\r\n"
    "EMR-01;127.77.0.3;York;EMR;critical\r\n"
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "cmdb.csv"
    path.write_text(CSV, encoding="utf-8", newline="")
    return path


@pytest.fixture
def db(tmp_path: Path, runner: CliRunner, inventory: Path) -> Path:
    path = tmp_path / "incident.db"
    result = runner.invoke(main, ["inventory", "import", str(inventory), "--db", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_import_then_status_counts_every_host_as_new(runner: CliRunner, db: Path) -> None:
    result = runner.invoke(main, ["status", "--json", "--db", str(db)])
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["total"] == 3
    assert status["states"]["new"] == 3
    assert status["states"]["unreachable"] == 0
    assert status["states"]["failed"] == 0


def test_hosts_filters_by_tag_and_prints_json_lines(runner: CliRunner, db: Path) -> None:
    result = runner.invoke(main, ["hosts", "--tag", "site=Leeds", "--json", "--db", str(db)])
    assert result.exit_code == 0, result.output
    names = sorted(json.loads(line)["name"] for line in result.stdout.splitlines())
    assert names == ["PACS-01", "RIS-01"]


def test_db_path_comes_from_the_environment(runner: CliRunner, db: Path) -> None:
    result = runner.invoke(main, ["hosts", "--json"], env={"FLEETFIX_DB": str(db)})
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3


def test_reimport_reports_unchanged_hosts(runner: CliRunner, db: Path, inventory: Path) -> None:
    result = runner.invoke(main, ["inventory", "import", str(inventory), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["added"], summary["unchanged"]) == (0, 3)


def test_rejected_inventory_exits_3_and_names_the_line(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "hosts.txt"
    bad.write_text("good-host\nbad_host!\n", encoding="utf-8")
    db = tmp_path / "incident.db"
    result = runner.invoke(main, ["inventory", "import", str(bad), "--db", str(db)])
    assert result.exit_code == EXIT_INVENTORY
    assert f"{bad}:2" in result.stderr
    assert result.stdout == ""


def test_status_without_a_database_says_how_to_make_one(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["status", "--db", str(tmp_path / "missing.db")])
    assert result.exit_code == EXIT_USAGE
    assert "inventory import" in result.stderr
    assert not (tmp_path / "missing.db").exists()


def test_audit_verify_passes_then_fails_after_tampering(runner: CliRunner, db: Path) -> None:
    assert runner.invoke(main, ["audit", "verify", "--db", str(db)]).exit_code == 0
    with sqlite3.connect(db) as connection:
        names = [r[0] for r in connection.execute("select name from sqlite_master")]
        table = next(name for name in names if name.startswith("audit"))
        for (trigger,) in connection.execute(
            "select name from sqlite_master where type = 'trigger' and tbl_name = ?", (table,)
        ).fetchall():
            connection.execute(f'drop trigger "{trigger}"')
        connection.execute(f'update "{table}" set actor = ?', ("mallory",))
    result = runner.invoke(main, ["audit", "verify", "--db", str(db)])
    assert result.exit_code == EXIT_AUDIT
    assert "audit row" in result.stderr


def test_states_lists_every_state(runner: CliRunner) -> None:
    result = runner.invoke(main, ["states"])
    assert result.exit_code == 0
    assert {line.split()[0] for line in result.stdout.splitlines()} >= {
        "new",
        "boot_loop",
        "needs_hands_on",
    }


def test_version_runs_as_a_console_command() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "fleetfix.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("fleetfix, version ")


def test_readme_documents_every_exit_code_and_no_other() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.MULTILINE))
    assert {int(code) for code in rows} == set(EXIT_CODES)
    # The README's words are the code's (markdown aside): the same meaning in both places.
    for code, meaning in EXIT_CODES.items():
        assert rows[str(code)].replace("`", "").startswith(meaning.replace("`", "")), code


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_is_printed_for_each_shell(runner: CliRunner, shell: str) -> None:
    done = runner.invoke(main, ["completion", shell])
    assert done.exit_code == 0 and "_FLEETFIX_COMPLETE" in done.stdout


def test_completion_knows_the_lazily_loaded_commands() -> None:
    env = {**os.environ, "COMP_WORDS": "fleetfix ru", "COMP_CWORD": "1",
           "_FLEETFIX_COMPLETE": "bash_complete"}  # fmt: skip
    code = "from fleetfix.cli import main; main(prog_name='fleetfix')"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=False, timeout=60)  # fmt: skip
    assert "plain,run" in done.stdout.splitlines()


def test_status_folds_a_column_of_per_host_values_into_one_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    # A CMDB export with a serial number per host, like the lab's per-host ports: one status
    # line per host for it would bury the site and role counts.
    # Two hosts share one value (the lab's random ports can coincide on two addresses).
    serials = [f"SN{i:05d}" for i in range(11)] + ["SN00000"]
    rows = [
        f"WS-{i:02d};127.77.1.{i + 1};{'Leeds' if i % 2 else 'York'};{serial}"
        for i, serial in enumerate(serials)
    ]
    path = tmp_path / "cmdb.csv"
    path.write_text("Hostname;IP;Site;Serial\n" + "\n".join(rows) + "\n", encoding="utf-8")
    db = tmp_path / "incident.db"
    imported = runner.invoke(main, ["inventory", "import", str(path), "--db", str(db)])
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(main, ["status", "--db", str(db)])
    assert result.exit_code == 0, result.output
    tag_lines = result.stdout.split("by tag:\n", 1)[1].splitlines()
    assert tag_lines == [
        "  site=leeds: new 6",
        "  site=york: new 6",
        "  serial: 11 values on 12 hosts (see `fleetfix hosts --tag serial=VALUE`)",
    ]
    # The JSON keeps every tag: a script may want the serials.
    as_json = json.loads(runner.invoke(main, ["status", "--json", "--db", str(db)]).stdout)
    assert len([tag for tag in as_json["tags"] if tag.startswith("serial=")]) == 11


def test_status_keeps_a_small_or_shared_tag_key_line_by_line(runner: CliRunner, db: Path) -> None:
    # Three roles, one host each: too few values to call the key a per-host attribute.
    result = runner.invoke(main, ["status", "--db", str(db)])
    assert result.exit_code == 0, result.output
    tag_lines = result.stdout.split("by tag:\n", 1)[1].splitlines()
    assert "  role=pacs: new 1" in tag_lines
    assert "  site=leeds: new 2" in tag_lines
    assert not any(" values on " in line for line in tag_lines)


def test_run_with_an_unknown_pack_says_so_before_asking_for_credentials(
    runner: CliRunner, inventory: Path, tmp_path: Path
) -> None:
    # No credentials anywhere: the pack is checked first, so an operator at a terminal is not
    # asked for a password only to be told the pack name was mistyped.
    env = {"FLEETFIX_USERNAME": "", "FLEETFIX_PASSWORD": "", "FLEETFIX_DB": str(tmp_path / "i.db")}
    result = runner.invoke(
        main, ["run", "-i", str(inventory), "--pack", "crowdstrike-219"], env=env
    )
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--pack 'crowdstrike-219': no such pack" in result.stderr
    assert "crowdstrike-291" in result.stderr  # the known packs are listed
    assert "credentials" not in result.stderr
    assert not (tmp_path / "i.db").exists()  # nothing recorded for a command that never ran
