"""Parsing PowerShell with tree-sitter-powershell, and rejecting what it cannot parse.

The grammar is not ours, so a script the lab accepts is one a real parser accepts too. Where
the grammar is more lenient than Windows PowerShell 5.1 (`&&` and `||` are PowerShell 7
only), we reject explicitly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import tree_sitter
import tree_sitter_powershell

from fleetfix.lab.shell.ps.values import ErrorRecord, PSRuntimeError


@functools.cache
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


@dataclass(frozen=True, slots=True)
class Script:
    source: bytes
    tree: tree_sitter.Tree

    @property
    def root(self) -> tree_sitter.Node:
        return self.tree.root_node

    def text(self, node: tree_sitter.Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")


def parse(source: str) -> Script:
    """Parses a script; raises PSRuntimeError carrying a ParserError record if it is invalid."""
    data = source.encode("utf-8")
    tree = _parser().parse(data)
    problem = _first_problem(tree.root_node)
    if problem is not None:
        raise PSRuntimeError(_parser_error(source, problem))
    return Script(data, tree)


def _first_problem(node: tree_sitter.Node) -> tree_sitter.Node | None:
    if node.type == "ERROR" or node.is_missing or node.type == "pipeline_chain_tail":
        return node
    if not node.has_error and node.type != "pipeline":
        return None if not _has_chain_tail(node) else _search(node)
    return _search(node)


def _has_chain_tail(node: tree_sitter.Node) -> bool:
    return any(c.type == "pipeline_chain_tail" or _has_chain_tail(c) for c in node.children)


def _search(node: tree_sitter.Node) -> tree_sitter.Node | None:
    for child in node.children:
        found = _first_problem(child)
        if found is not None:
            return found
    return None


def _parser_error(source: str, node: tree_sitter.Node) -> ErrorRecord:
    row, column = node.start_point
    lines = source.splitlines() or [""]
    line = lines[min(row, len(lines) - 1)]
    token = node.text.decode("utf-8", "replace").strip() if node.text else ""
    if node.type == "pipeline_chain_tail":
        message = f"The token '{token}' is not a valid statement separator in this version."
        error_id = "InvalidEndOfLine"
    elif node.is_missing:
        message = f"Missing '{node.type}' in statement."
        error_id = "MissingToken"
    elif token:
        first = token.split()[0]
        message = f"Unexpected token '{first}' in expression or statement."
        error_id = "UnexpectedToken"
    else:
        message = "Incomplete statement: missing closing token."
        error_id = "IncompleteParseException"
    position = f"At line:{row + 1} char:{column + 1}\r\n+ {line}\r\n+ {' ' * column}~"
    return ErrorRecord(
        message,
        exception_type="System.Management.Automation.ParseException",
        category="ParserError",
        error_id=error_id,
        position=position,
    )
