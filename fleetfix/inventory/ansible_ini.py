"""Ansible INI inventories (`hosts.ini`): `[group]`, `[group:vars]`, `[group:children]`, host
lines with `key=value` variables and `web[01:03]` ranges. Hosts before any section are
ungrouped, as in Ansible."""

from __future__ import annotations

import re
import shlex

from fleetfix.inventory.ansible_groups import InventoryTree, expand_host_pattern
from fleetfix.inventory.model import Parsed, Rejection
from fleetfix.inventory.source import physical_lines
from fleetfix.inventory.validate import parse_ip, shown

# Ansible's own section syntax: a group name without `:`, `]` or spaces, an optional kind.
SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?")
_IP_WITH_PORT = re.compile(r"\[([^\]]+)\](?::(\d+))?")


def parse_ansible_ini(text: str) -> Parsed:
    tree = InventoryTree()
    group, kind = "ungrouped", "hosts"
    for number, raw in enumerate(physical_lines(text), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        section = SECTION.fullmatch(line)
        if section is not None:
            group, kind = section.group(1), section.group(2) or "hosts"
            tree.group(group)
            if kind not in ("hosts", "vars", "children"):
                tree.rejections.append(
                    Rejection(number, f"section [{group}:{kind[:20]}]: use :vars or :children")
                )
            continue
        if kind == "vars":
            _vars_line(tree, group, number, line)
        elif kind == "children":
            tree.add_child(group, line.split()[0])
        elif kind == "hosts":
            _host_line(tree, group, number, line)
    return tree.parsed()


def _vars_line(tree: InventoryTree, group: str, number: int, line: str) -> None:
    key, equals, value = line.partition("=")
    key = key.strip()
    if not equals or not key or len(key.split()) > 1:
        # The line is not quoted back: it may be `ansible_password: secret` in YAML style.
        tree.rejections.append(
            Rejection(number, f"[{group[:40]}:vars] lines are key=value; this one is not")
        )
        return
    tree.set_var(tree.group(group).vars, key, _unquote(value.strip()), number)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _host_line(tree: InventoryTree, group: str, number: int, line: str) -> None:
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        # shlex's message would quote the line, and the line may hold a password.
        tree.rejections.append(Rejection(number, "a quote on this host line is never closed"))
        return
    if not words:
        return
    pattern, assignments = words[0], words[1:]
    bare = [n for n, word in enumerate(assignments, start=2) if "=" not in word[1:]]
    if bare:
        # Only the position: a stray word is often a value split off by a space
        # (`ansible_password= secret`), and messages must not carry secrets.
        tree.rejections.append(
            Rejection(
                number,
                f"after the host {shown(pattern)}, expected key=value variables; word "
                f"{bare[0]} has no '=' (values with spaces need quotes)",
            )
        )
        return
    names = _host_names(pattern)
    if isinstance(names, str):
        tree.rejections.append(Rejection(number, names))
        return
    port_names, port = names
    for name in port_names:
        host = tree.add_host(group, name, number)
        if port is not None:
            host.vars["ansible_port"] = port
        for assignment in assignments:
            key, _, value = assignment.partition("=")
            tree.set_var(host.vars, key, value, number)


def _host_names(pattern: str) -> tuple[list[str], str | None] | str:
    """The names a host pattern stands for and the port it gives, or why it is invalid."""
    if pattern.startswith("["):
        bracketed = _IP_WITH_PORT.fullmatch(pattern)
        if bracketed is not None and parse_ip(bracketed.group(1)) is not None:
            return [bracketed.group(1)], bracketed.group(2)
    if pattern.count(":") > 1 and parse_ip(pattern) is not None:
        return [pattern], None
    # A range's brackets hold colons too (web[01:03]:5986): the port follows the last `]`.
    after_ranges = pattern.rfind("]") + 1
    name_end = pattern.find(":", after_ranges)
    name, colon, port = (
        (pattern, "", "") if name_end < 0 else (pattern[:name_end], ":", pattern[name_end + 1 :])
    )
    if colon and not (port.isascii() and port.isdigit()):
        return f"host {shown(pattern)}: the part after ':' must be a port number"
    names = expand_host_pattern(name)
    if isinstance(names, str):
        return names
    return names, port if colon else None
