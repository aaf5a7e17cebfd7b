"""fleetfix.toml: found where a sysadmin expects it, beaten by variables and flags, never a
home for secrets, and shown back with secrets masked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fleetfix.cli import EXIT_USAGE, main
from fleetfix.cli_run import run
from fleetfix.config import Config, default_map_for, load_config

HOSTS = "PACS-01\nRIS-01\n"


@pytest.fixture
def incident(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with two incident databases (file.db: 2 hosts, env.db: 1 host), as cwd."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLEETFIX_DB", raising=False)
    monkeypatch.delenv("FLEETFIX_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "two.txt").write_text(HOSTS)
    (tmp_path / "one.txt").write_text("EMR-01\n")
    runner = CliRunner()
    for name, hosts in (("file.db", "two.txt"), ("env.db", "one.txt"), ("flag.db", "one.txt")):
        done = runner.invoke(main, ["inventory", "import", hosts, "--db", name])
        assert done.exit_code == 0, done.output
    return tmp_path


def _hosts_in_status(args: list[str], env: dict[str, str] | None = None) -> int:
    done = CliRunner(env=env).invoke(main, [*args, "status", "--json"])
    assert done.exit_code == 0, done.output
    return int(json.loads(done.stdout)["total"])


def test_the_file_in_the_current_folder_sets_defaults(incident: Path) -> None:
    (incident / "fleetfix.toml").write_text('[defaults]\ndb = "file.db"\n')
    assert _hosts_in_status([]) == 2


def test_environment_beats_the_file_and_flags_beat_both(incident: Path) -> None:
    (incident / "fleetfix.toml").write_text('[status]\ndb = "file.db"\n')
    assert _hosts_in_status([], env={"FLEETFIX_DB": "env.db"}) == 1
    done = CliRunner(env={"FLEETFIX_DB": "env.db"}).invoke(
        main, ["status", "--json", "--db", "flag.db"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["total"] == 1
    # flag.db and env.db both hold one host: only the flag's file may have been opened.
    (incident / "env.db").rename(incident / "moved.db")
    again = CliRunner(env={"FLEETFIX_DB": "env.db"}).invoke(
        main, ["status", "--json", "--db", "flag.db"]
    )
    assert again.exit_code == 0, again.output


def test_the_user_config_folder_is_the_fallback(incident: Path) -> None:
    user = incident / "xdg" / "fleetfix"
    user.mkdir(parents=True)
    (user / "fleetfix.toml").write_text('[defaults]\ndb = "file.db"\n')
    assert _hosts_in_status([]) == 2
    (incident / "fleetfix.toml").write_text('[defaults]\ndb = "env.db"\n')
    assert _hosts_in_status([]) == 1  # the current folder's file wins


def test_a_named_config_file_must_exist(incident: Path) -> None:
    done = CliRunner().invoke(main, ["--config", "nope.toml", "status"])
    assert done.exit_code == EXIT_USAGE
    assert "nope.toml does not exist" in done.stderr


@pytest.mark.parametrize("key", ["password", "graph_client_secret", "api_token"])
def test_secrets_are_refused_with_the_file_named(incident: Path, key: str) -> None:
    (incident / "fleetfix.toml").write_text(f'[defaults]\n{key} = "hunter2"\n')
    done = CliRunner().invoke(main, ["status"])
    assert done.exit_code == EXIT_USAGE
    assert "fleetfix.toml" in done.stderr and key in done.stderr
    assert "hunter2" not in done.stderr


def test_a_variable_name_for_a_secret_is_fine(incident: Path) -> None:
    path = incident / "fleetfix.toml"
    path.write_text('[keys.ad]\npassword_env = "FLEETFIX_AD_PASSWORD"\n')
    assert load_config().section("keys.ad") == {"password_env": "FLEETFIX_AD_PASSWORD"}


def test_a_misspelt_setting_names_the_section_and_the_key(incident: Path) -> None:
    (incident / "fleetfix.toml").write_text("[run]\nmax-fail-percnt = 10\n")
    done = CliRunner().invoke(main, ["run", "-i", "two.txt", "--pack", "crowdstrike-291"])
    assert done.exit_code == EXIT_USAGE
    assert "[run] has no setting max-fail-percnt" in done.stderr


def test_an_unknown_section_and_bad_toml_are_clear_errors(incident: Path) -> None:
    (incident / "fleetfix.toml").write_text("[rnu]\npack = 'x'\n")
    done = CliRunner().invoke(main, ["status"])
    assert done.exit_code == EXIT_USAGE and "[rnu] is no fleetfix command" in done.stderr
    (incident / "fleetfix.toml").write_text("[run\n")
    done = CliRunner().invoke(main, ["status"])
    assert done.exit_code == EXIT_USAGE and "fleetfix.toml: not valid TOML" in done.stderr


def test_run_settings_map_onto_its_options(incident: Path) -> None:
    text = (
        '[defaults]\noperator = "alice"\n[run]\npack = "crowdstrike-291"\nmax-fail-percent = 10\n'
    )
    (incident / "fleetfix.toml").write_text(text)
    config = load_config()
    assert default_map_for(run, "run", config) == {
        "operator": "alice", "pack": "crowdstrike-291", "max_fail_percent": 10,
        # run's own --config (key providers for hands-on hosts) reads the same file.
        "config_path": incident / "fleetfix.toml",
    }  # fmt: skip
    assert default_map_for(run, "run", Config(None)) == {}


def _config_show(*args: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    done = CliRunner(env=env).invoke(main, ["config", "show", *args])
    assert done.exit_code == 0, done.output
    return (json.loads(done.stdout) if "--json" in args else {}), done.stdout


def _rows(shown: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Settings by name; an option set apart for some commands keeps its first (shared) row."""
    rows: dict[str, dict[str, Any]] = {}
    for row in shown["settings"]:
        rows.setdefault(row["setting"], row)
    return rows


def test_config_show_masks_secrets_in_the_environment(incident: Path) -> None:
    (incident / "fleetfix.toml").write_text('[defaults]\ndb = "file.db"\n')
    env = {"FLEETFIX_PASSWORD": "hunter2", "FLEETFIX_USERNAME": "svc-fix"}
    shown, _ = _config_show("--json", env=env)
    assert str(shown["file"]).endswith("fleetfix.toml")
    rows = _rows(shown)
    assert rows["FLEETFIX_PASSWORD"]["value"] == "********"
    assert rows["FLEETFIX_USERNAME"]["value"] == "svc-fix"
    assert "hunter2" not in json.dumps(shown)


HMAC_KEY = "audit-hmac-Secret-0719-abcdef"


@pytest.mark.parametrize("fmt", [("--json",), ()], ids=["json", "text"])
def test_config_show_masks_the_audit_hmac_key_and_every_secret_looking_name(
    incident: Path, fmt: tuple[str, ...]
) -> None:
    # The [keys.ad] bind password sits in a variable whose name says nothing: the file's
    # password_env is what marks it as a secret.
    (incident / "fleetfix.toml").write_text(
        '[keys.ad]\nuri = "ldaps://dc01"\nbase_dn = "DC=x"\npassword_env = "LDAP_BIND"\n'
    )
    env = {
        "FLEETFIX_AUDIT_HMAC_KEY": HMAC_KEY, "FLEETFIX_API_KEY": "api-key-0719",
        "FLEETFIX_GRAPH_TOKEN": "token-0719", "FLEETFIX_CRED_PACS_PASSWORD": "pacs-pw-0719",
        "FLEETFIX_GRAPH_CLIENT_SECRET": "client-secret-0719", "LDAP_BIND": "bind-pw-0719",
        "FLEETFIX_USERNAME": "svc-fix",
    }  # fmt: skip
    shown, text = _config_show(*fmt, env=env)
    for secret in (v for k, v in env.items() if k != "FLEETFIX_USERNAME"):
        assert secret not in text, secret
    for name in env:
        assert name in text  # listed, so a sysadmin sees it is set ...
    assert "svc-fix" in text  # ... and what is not a secret is shown
    if shown:
        rows = _rows(shown)
        assert rows["FLEETFIX_AUDIT_HMAC_KEY"]["value"] == "********"
        assert rows["LDAP_BIND"]["value"] == "********"


def test_config_show_says_which_source_wins(incident: Path) -> None:
    path = incident / "fleetfix.toml"
    path.write_text(
        '[defaults]\ndb = "file.db"\noperator = "alice"\n[run]\npack = "crowdstrike-291"'
    )
    env = {"FLEETFIX_DB": "env.db"}
    rows = _rows(_config_show("--json", env=env)[0])
    assert rows["file"]["value"] == str(path)
    assert rows["file"]["source"] == "found in the current folder"
    assert (rows["db"]["value"], rows["db"]["source"]) == ("env.db", "FLEETFIX_DB")
    assert rows["db"]["beats"] == [f"{path} [defaults]"]
    assert {"status", "run", "export", "key.lookup"} <= set(rows["db"]["commands"])
    operator = rows["operator"]
    assert (operator["value"], operator["source"]) == ("alice", f"{path} [defaults]")
    assert (rows["pack"]["source"], rows["pack"]["commands"]) == (f"{path} [run]", ["run"])

    # One command as it would run: the flag beats the variable, which beats the file.
    shown, _ = _config_show("--json", "status", "--db", "flag.db", env=env)
    status = _rows(shown)
    assert (status["db"]["value"], status["db"]["source"]) == ("flag.db", "flag --db")
    assert status["db"]["beats"] == ["FLEETFIX_DB", f"{path} [defaults]"]
    assert (status["json"]["value"], status["json"]["source"]) == (False, "default")
    _, text = _config_show("run", "-i", "hosts.csv", env=env)
    lines = {line.split()[0]: line for line in text.splitlines()}
    assert "flag --inventory" in lines["inventory"]
    assert '"env.db"' in lines["db"] and "FLEETFIX_DB (beats" in lines["db"]
    assert lines["concurrency"].split()[1:] == ["50", "default"]


def test_config_show_names_how_the_file_was_chosen(incident: Path) -> None:
    (incident / "other.toml").write_text('[defaults]\ndb = "file.db"\n')
    done = CliRunner().invoke(main, ["--config", "other.toml", "config", "show", "--json"])
    assert done.exit_code == 0, done.output
    assert _rows(json.loads(done.stdout))["file"]["source"] == "flag --config"
    shown, _ = _config_show("--json", env={"FLEETFIX_CONFIG": "other.toml"})
    assert _rows(shown)["file"]["source"] == "FLEETFIX_CONFIG"
    (incident / "other.toml").unlink()
    shown, _ = _config_show("--json")
    assert shown["file"] is None and str(_rows(shown)["file"]["source"]).startswith("default")


def test_config_show_refuses_an_unknown_command_or_option(incident: Path) -> None:
    done = CliRunner().invoke(main, ["config", "show", "rnu"])
    assert done.exit_code == EXIT_USAGE and "no command `rnu`" in done.stderr
    done = CliRunner().invoke(main, ["config", "show", "status", "--nope"])
    assert done.exit_code == EXIT_USAGE and "--nope" in done.stderr


def test_config_show_resolves_flags_as_the_command_would(incident: Path) -> None:
    # `--resume` alone means the latest run, and `-f 10` is the number 10: what run receives.
    rows = _rows(_config_show("--json", "run", "--resume", "-f", "10")[0])
    assert (rows["resume"]["value"], rows["resume"]["source"]) == ("latest", "flag --resume")
    concurrency = rows["concurrency"]
    assert (concurrency["value"], concurrency["source"]) == (10, "flag --concurrency")


def test_config_show_says_which_values_the_command_would_refuse(incident: Path) -> None:
    env = {"FLEETFIX_CA_BUNDLE": "no-such-ca.pem"}
    rows = _rows(_config_show("--json", "run", "-i", "no-such.csv", env=env)[0])
    refused = ", refused: not a valid value"
    inventory, ca_file = rows["inventory"], rows["ca-file"]
    assert (inventory["value"], inventory["source"]) == (None, f"flag --inventory{refused}")
    assert (ca_file["value"], ca_file["source"]) == (
        "no-such-ca.pem",
        f"FLEETFIX_CA_BUNDLE{refused}",
    )
    assert rows["db"]["source"] == "default"


def test_config_show_lists_the_commands_in_a_last_column_of_their_own(incident: Path) -> None:
    (incident / "fleetfix.toml").write_text('[defaults]\ndb = "file.db"\n[status]\ndb = "env.db"\n')
    _, text = _config_show()
    header, *lines = text.splitlines()
    assert header.split() == ["setting", "value", "from", "commands"]
    assert header.index("value") < 30  # the names are not padded to a list of commands
    rows = [re.split(r"\s{2,}", line) for line in lines]
    db = {row[1]: row[3] for row in rows if row[0] == "db"}
    assert db['"env.db"'] == "status"
    assert {"run", "export", "key.lookup"} <= set(db['"file.db"'].split(", "))


_LOADED = textwrap.dedent(
    """
    import sys
    from fleetfix.cli import main

    main(sys.argv[1:], standalone_mode=False)
    prefixes = ("fleetfix.cli_", "fleetfix.lab", "asyncssh")
    print(",".join(sorted(m for m in sys.modules if m.startswith(prefixes))), file=sys.stderr)
    """
)


def _loaded(*args: str, cwd: Path) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _LOADED, *args], cwd=cwd, capture_output=True,
                          text=True, check=False, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return set(filter(None, done.stderr.splitlines()[-1].split(",")))


def test_config_show_loads_only_when_asked_and_then_only_the_command_named(
    incident: Path,
) -> None:
    assert _loaded("status", "--json", "--db", "file.db", cwd=incident) == set()
    assert _loaded("config", "show", "status", "--db", "x.db", cwd=incident) == {
        "fleetfix.cli_config"
    }
