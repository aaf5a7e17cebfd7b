"""The [keys.*] config sections, read from real TOML files."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetfix.errors import ConfigError
from fleetfix.keys.config import load_keys_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleetfix.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sections_are_read_in_the_configured_order(tmp_path: Path) -> None:
    config = load_keys_config(
        _write(
            tmp_path,
            """
[keys]
providers = ["ad", "escrow"]
[keys.escrow]
path = "keys.csv"
[keys.ad]
uri = "ldaps://dc01.corp.example"
base_dn = "DC=corp,DC=example"
bind_user = "CORP\\\\svc-bitlocker"
auth = "ntlm"
ca_file = "ca.pem"
""",
        )
    )
    assert config.order == ("ad", "escrow")
    assert config.escrow is not None and config.escrow.path == tmp_path / "keys.csv"
    assert config.ad is not None and config.ad.bind_user == "CORP\\svc-bitlocker"
    assert config.ad.auth == "ntlm" and config.ad.ca_file == tmp_path / "ca.pem"
    assert config.ad.password_env == "FLEETFIX_AD_PASSWORD"


def test_order_defaults_to_the_sections_present(tmp_path: Path) -> None:
    config = load_keys_config(_write(tmp_path, '[keys.escrow]\npath = "k.csv"\n'))
    assert config.order == ("escrow",)


def test_a_password_in_the_config_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[keys.ad]\nuri = "ldaps://dc"\nbase_dn = "DC=x"\nbind_password = "Hunter2-canary"\n',
    )
    with pytest.raises(ConfigError, match="bind_password") as caught:
        load_keys_config(path)
    assert "Hunter2-canary" not in str(caught.value)


def test_plain_ldap_to_a_remote_server_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, '[keys.ad]\nuri = "ldap://dc01.corp.example"\nbase_dn = "DC=x"\n')
    with pytest.raises(ConfigError, match="clear text"):
        load_keys_config(path)


def test_plain_ldap_is_allowed_with_start_tls_or_to_loopback(tmp_path: Path) -> None:
    tls = '[keys.ad]\nuri = "ldap://dc01.corp.example"\nbase_dn = "DC=x"\nstart_tls = true\n'
    assert load_keys_config(_write(tmp_path, tls)).ad is not None
    local = '[keys.ad]\nuri = "ldap://127.0.0.1:3389"\nbase_dn = "DC=x"\n'
    assert load_keys_config(_write(tmp_path, local)).ad is not None


def test_provider_named_without_a_section_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, '[keys]\nproviders = ["graph"]\n[keys.escrow]\npath = "k.csv"\n')
    with pytest.raises(ConfigError, match="graph"):
        load_keys_config(path)


def test_missing_explicit_config_is_an_error_but_no_default_file_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_keys_config(tmp_path / "missing.toml")
    monkeypatch.chdir(tmp_path)
    assert load_keys_config().order == ()


@pytest.mark.parametrize("key", ["hmac_key", "bind_passphrase", "credential", "api_key"])
def test_every_name_fleetfix_toml_calls_a_secret_is_refused_here_too(
    tmp_path: Path, key: str
) -> None:
    path = _write(tmp_path, f'[keys.ad]\nuri = "ldaps://dc"\nbase_dn = "DC=x"\n{key} = "c4n4ry"\n')
    with pytest.raises(ConfigError, match=key) as caught:
        load_keys_config(path)
    assert "c4n4ry" not in str(caught.value)


def test_key_ids_paths_and_variable_names_are_not_taken_for_secrets(tmp_path: Path) -> None:
    config = load_keys_config(
        _write(
            tmp_path,
            """
[keys]
providers = ["escrow", "ad", "graph"]
[keys.escrow]
path = "keys.csv"
[keys.ad]
uri = "ldaps://dc01.corp.example"
base_dn = "DC=corp,DC=example"
bind_user = "svc-bitlocker"
auth = "simple"
start_tls = false
ca_file = "ca.pem"
password_env = "LDAP_BIND"
timeout = 5
[keys.graph]
tenant = "contoso.example"
client_id = "fleetfix-app"
endpoint = "https://graph.example/v1.0"
authority = "https://login.example"
auth = "client_credentials"
client_secret_env = "GRAPH_SECRET"
ca_file = "ca.pem"
""",
        )
    )
    assert config.order == ("escrow", "ad", "graph")
    assert config.ad is not None and config.ad.password_env == "LDAP_BIND"
    assert config.graph is not None and config.graph.client_secret_env == "GRAPH_SECRET"
