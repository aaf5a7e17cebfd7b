"""Turning extra columns and variables into `key=value` tags, and keeping secrets out of them.

Tags end up in the incident database and in exports, so anything that smells of a credential
is dropped here and only its name is reported, never its value.
"""

from __future__ import annotations

import re

# Names that hold credentials in Ansible inventories and CMDB exports: ansible_password,
# ansible_become_password, ansible_ssh_pass, ansible_winrm_password, "BitLocker Recovery Key",
# api_token, client_secret ... Matching on fragments over-drops (ansible_ssh_private_key_file is
# a path, not a secret) - losing a tag is cheap, storing a password is not.
_SECRET_FRAGMENTS = ("pass", "secret", "token", "key")

# A BitLocker recovery password (8 groups of 6 digits), whatever column it hides in.
_RECOVERY_PASSWORD = re.compile(r"\s*(\d{6}-){7}\d{6}\s*")

_WHITESPACE = re.compile(r"\s+")


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(fragment in lowered for fragment in _SECRET_FRAGMENTS)


def looks_like_recovery_password(value: str) -> bool:
    # 55 characters at least: a cheap test first, because every cell of every row comes here.
    return len(value) >= 55 and _RECOVERY_PASSWORD.fullmatch(value) is not None


def tag_key(name: str) -> str:
    """A column or variable name as a tag key: lower case, inner whitespace as `_`."""
    return _WHITESPACE.sub("_", name.strip()).lower()


def tag_value(value: str) -> str:
    """A value on one line: exports wrap long cells, and a tag is shown on one line."""
    if value.isprintable() and "  " not in value:  # the common case, without a regex
        return value.strip()
    return _WHITESPACE.sub(" ", value).strip()


def key_value_tag(name: str, value: str) -> str:
    return f"{tag_key(name)}={tag_value(value)}"
