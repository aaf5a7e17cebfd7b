"""Ansible YAML inventories: the `all: {hosts:, vars:, children:}` tree.

The file is composed into YAML nodes, not loaded into Python objects: nodes carry line numbers
for messages, and nothing in the file gets constructed (no tags, no objects). Aliases can make
a small file describe an enormous tree, so the walk has a budget.
"""

from __future__ import annotations

import yaml

from fleetfix.inventory.ansible_groups import InventoryTree, expand_host_pattern
from fleetfix.inventory.model import FileRefused, Parsed, Rejection

_NODE_BUDGET = 5_000_000
# libyaml composes about ten times faster than the pure-Python loader; both are safe loaders
# and both keep line marks on nodes.
_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
_GROUP_KEYS = frozenset({"hosts", "vars", "children"})


class _Walk:
    def __init__(self, tree: InventoryTree) -> None:
        self.tree = tree
        self.visited = 0
        # (group node, group name) pairs already declared: an alias repeating a group adds
        # nothing new, and skipping it keeps alias-doubling files linear.
        self.declared: set[tuple[int, str]] = set()

    def spend(self, node: yaml.Node) -> None:
        self.visited += 1
        if self.visited > _NODE_BUDGET:
            raise FileRefused(_line(node), "the YAML expands to too many nodes (aliases?)")


def parse_ansible_yaml(text: str) -> Parsed:
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise FileRefused(line, f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise FileRefused(None, f"not valid YAML: {type(exc).__name__}") from None
    tree = InventoryTree()
    if root is None or _is_null(root):
        return tree.parsed()
    if not isinstance(root, yaml.MappingNode):
        raise FileRefused(
            _line(root), "an Ansible YAML inventory is a mapping of groups: all: {hosts: ...}"
        )
    walk = _Walk(tree)
    for key, value in root.value:
        name = _scalar(key)
        if name is None:
            tree.rejections.append(Rejection(_line(key), "a group name must be plain text"))
            continue
        _group(walk, name, value, path=())
    return tree.parsed()


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _scalar(node: yaml.Node) -> str | None:
    if not isinstance(node, yaml.ScalarNode) or _is_null(node):
        return None
    return str(node.value)


def _group(walk: _Walk, name: str, node: yaml.Node, *, path: tuple[str, ...]) -> None:
    walk.spend(node)
    tree = walk.tree
    tree.group(name)
    if _is_null(node):
        return
    if not isinstance(node, yaml.MappingNode):
        tree.rejections.append(Rejection(_line(node), f"group {name[:40]!r} must be a mapping"))
        return
    if name in path:  # an alias that contains itself: Ansible would loop too
        tree.rejections.append(Rejection(_line(node), f"group {name[:40]!r} contains itself"))
        return
    if (id(node), name) in walk.declared:
        return
    walk.declared.add((id(node), name))
    for key, value in node.value:
        walk.spend(key)
        section = _scalar(key)
        if section == "hosts":
            _hosts(walk, name, value)
        elif section == "vars":
            _vars(walk, tree.group(name).vars, value)
        elif section == "children":
            _children(walk, name, value, path=(*path, name))
        else:
            tree.warnings.append(
                Rejection(
                    _line(key),
                    f"group {name[:40]!r}: unknown key ignored; use hosts, vars or children",
                )
            )


def _children(walk: _Walk, parent: str, node: yaml.Node, *, path: tuple[str, ...]) -> None:
    if _is_null(node):
        return
    if not isinstance(node, yaml.MappingNode):
        walk.tree.rejections.append(Rejection(_line(node), "children must be a mapping of groups"))
        return
    for key, value in node.value:
        child = _scalar(key)
        if child is None:
            walk.tree.rejections.append(Rejection(_line(key), "a group name must be plain text"))
            continue
        walk.tree.add_child(parent, child)
        _group(walk, child, value, path=path)


def _hosts(walk: _Walk, group: str, node: yaml.Node) -> None:
    tree = walk.tree
    if _is_null(node):
        return
    if not isinstance(node, yaml.MappingNode):
        tree.rejections.append(Rejection(_line(node), "hosts must be a mapping: name: {vars}"))
        return
    for key, value in node.value:
        walk.spend(key)
        pattern = _scalar(key)
        if pattern is None:
            tree.rejections.append(Rejection(_line(key), "a host name must be plain text"))
            continue
        names = expand_host_pattern(pattern)
        if isinstance(names, str):
            tree.rejections.append(Rejection(_line(key), names))
            continue
        for name in names:
            host = tree.add_host(group, name, _line(key))
            _vars(walk, host.vars, value)


def _vars(walk: _Walk, target: dict[str, str | None], node: yaml.Node) -> None:
    if _is_null(node):
        return
    if not isinstance(node, yaml.MappingNode):
        walk.tree.rejections.append(Rejection(_line(node), "vars must be a mapping: name: value"))
        return
    for key, value in node.value:
        walk.spend(value)
        name = _scalar(key)
        if name is None:
            walk.tree.rejections.append(Rejection(_line(key), "a variable name must be text"))
            continue
        # Lists and mappings are real Ansible vars but have no one-line tag form; skip them.
        if isinstance(value, yaml.ScalarNode):
            walk.tree.set_var(target, name, _scalar(value), _line(key))
