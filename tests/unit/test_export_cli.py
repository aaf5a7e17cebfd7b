"""`fleetfix export` through click, registered the way fleetfix.cli registers it (lazily)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fleetfix.cli import FleetfixGroup
from tests.unit.test_export_model import CANARY_PASSWORD, build_incident


class _Main(FleetfixGroup):
    lazy_commands = {"export": "fleetfix.cli_export:export"}  # noqa: RUF012 - as in cli.py


@click.group(cls=_Main)
def main() -> None:
    """The lead's `fleetfix` group, reduced to the export command."""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    incident = build_incident(tmp_path)
    incident.store.close()
    return incident.path


def _export(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["export", *args])
    return result.exit_code, result.stdout, result.stderr


def test_writes_the_file_whole(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    code, out, _ = _export("--format", "html", "-o", str(target), "--db", str(db))
    assert code == 0 and out == ""
    assert target.read_text(encoding="utf-8").endswith("</body></html>\n")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_refuses_to_overwrite_without_force(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("keep me")
    code, _, err = _export("--format", "csv", "-o", str(target), "--db", str(db))
    assert code == 2 and "--force" in err
    assert target.read_text() == "keep me"
    code, _, _ = _export("--format", "csv", "-o", str(target), "--db", str(db), "--force")
    assert code == 0 and target.read_text().startswith("[summary]")


def test_dash_writes_stdout(db: Path) -> None:
    code, out, _ = _export("--format", "jsonl", "-o", "-", "--db", str(db), "--tag", "site=lyon")
    assert code == 0
    assert '"type": "summary"' in out.splitlines()[0] and '"hosts": 4' in out.splitlines()[0]
    assert CANARY_PASSWORD not in out


def test_bad_tag_and_since_are_usage_errors(db: Path) -> None:
    code, _, err = _export("--format", "md", "-o", "-", "--db", str(db), "--tag", "paris")
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = _export("--format", "md", "-o", "-", "--db", str(db), "--since", "yesterday")
    assert code == 2 and "ISO 8601" in err


def test_missing_database_is_reported(tmp_path: Path) -> None:
    code, _, err = _export("--format", "md", "-o", "-", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "no such incident database" in err
    assert not (tmp_path / "none.db").exists()


def test_broken_audit_chain_still_exports_and_exits_4(db: Path, tmp_path: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER audit_append_only_update")
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE id = 2")
    target = tmp_path / "report.md"
    code, _, err = _export("--format", "md", "-o", str(target), "--db", str(db))
    assert code == 4 and "does not verify" in err
    assert "| chain\\_ok | NO |" in target.read_text()


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("missing/report.html", "the folder {tmp}/missing does not exist; create it or choose"),
        (".", "it is a folder; give a file name with -o"),
    ],
)
def test_an_output_that_cannot_be_written_is_a_usage_error_naming_it(
    db: Path, tmp_path: Path, where: str, said: str
) -> None:
    target = tmp_path / where
    code, _, err = _export("--format", "html", "-o", str(target), "--db", str(db), "--force")
    assert code == 2, err
    assert f"cannot write {target}: " + said.format(tmp=tmp_path) in err
    assert "Traceback" not in err


def test_an_output_under_a_file_says_the_file_is_not_a_folder(db: Path, tmp_path: Path) -> None:
    # (A folder without write permission cannot be tested here: CI runs as root.)
    plain = tmp_path / "notes.txt"
    plain.write_text("")
    code, _, err = _export("--format", "csv", "-o", str(plain / "r.csv"), "--db", str(db))
    assert code == 2 and f"the folder {plain} is a file, not a folder" in err, err
