"""Parsing PowerShell with tree-sitter-powershell, and rejecting what it cannot parse.

The grammar is not ours, so a script the lab accepts is one a real parser accepts too. Where
the grammar is more lenient than Windows PowerShell 5.1 (`&&` and `||` are PowerShell 7
only, a comma with no argument before it), we reject explicitly; where it is stricter (comma
lists of bare words, see arglists.py), we accept what PowerShell accepts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import tree_sitter
import tree_sitter_powershell

from fleetfix.lab.shell.ps import arglists
from fleetfix.lab.shell.ps.values import ErrorRecord, PSRuntimeError


@functools.cache
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


@dataclass(frozen=True, slots=True)
class Script:
    source: bytes  # what the tree was parsed from: the script, its lists perhaps rewritten
    tree: tree_sitter.Tree
    # The comma-list rewrites (arglists.repair) that made `source` out of the script.
    rewrites: tuple[arglists.Rewrite, ...] = ()
    written: bytes = b""  # the script as written, when rewrites changed it

    @property
    def root(self) -> tree_sitter.Node:
        return self.tree.root_node

    def text(self, node: tree_sitter.Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def where(self, node: tree_sitter.Node) -> tuple[int, int, str]:
        """Where `node` is in the script as written: its line and column (from 0) and the
        first line of its text. Rewritten comma lists before it on its line do not count."""
        if not self.rewrites:
            row, column = node.start_point
            return row, column, (self.text(node).splitlines() or [""])[0]
        start = arglists.written_offset(node.start_byte, self.rewrites)
        end = arglists.written_offset(node.end_byte, self.rewrites)
        row = self.written.count(b"\n", 0, start)
        column = start - (self.written.rfind(b"\n", 0, start) + 1)
        text = self.written[start:end].decode("utf-8", "replace")
        return row, column, (text.splitlines() or [""])[0]


@functools.lru_cache(maxsize=256)
def parse(source: str) -> Script:
    """Parses a script; raises PSRuntimeError carrying a ParserError record if it is invalid.
    A script is parsed once (remediation packs send the same ones to every host); scripts
    are immutable, so every run of it can share one."""
    data = source.encode("utf-8")
    tree = raw_tree(data)
    problem = _first_problem(tree.root_node)
    if problem is None:
        return Script(data, tree)
    repaired = None
    if b"," in data:
        repaired = arglists.repair(data, tree, parse=raw_tree, problem=_first_problem)
    if repaired is None:
        dangling = arglists.dangling_comma(data, tree.root_node)
        problem = problem if dangling is None else dangling
        raise PSRuntimeError(_parser_error(source, problem))
    return Script(repaired.source, repaired.tree, repaired.rewrites, written=data)


def raw_tree(data: bytes) -> tree_sitter.Tree:
    """The grammar's tree for `data`, problems and all."""
    return _parser().parse(data)


def _first_problem(node: tree_sitter.Node) -> tree_sitter.Node | None:
    if node.type == "ERROR" or node.type == "pipeline_chain_tail":
        return node
    if node.is_missing:
        return None if arglists.tolerated_missing(node) else node
    if node.type == "command_elements":
        for element in node.children:
            if arglists.starts_with_comma(element) and arglists.continuation_problem(element):
                return element
    if not node.has_error and not _may_hide_problem(node):
        return None
    for child in node.children:
        found = _first_problem(child)
        if found is not None:
            return found
    return None


def _may_hide_problem(node: tree_sitter.Node) -> bool:
    # What the grammar accepts and PowerShell 5.1 does not: `&&`/`||` chains (PowerShell 7)
    # and commas with no argument before them (`echo ,a`).
    text = node.text or b""
    return b"," in text or b"&&" in text or b"||" in text


def _parser_error(source: str, node: tree_sitter.Node) -> ErrorRecord:
    row, column = node.start_point
    lines = source.splitlines() or [""]
    line = lines[min(row, len(lines) - 1)]
    token = node.text.decode("utf-8", "replace").strip() if node.text else ""
    continuation = arglists.continuation_problem(node) if arglists.starts_with_comma(node) else None
    if node.type == ",":
        message, error_id = "Missing expression after ','.", "MissingExpression"
        column += 1
    elif continuation is not None:
        message, error_id = continuation
        column += 1 if error_id == "MissingExpression" else 0
    elif node.type == "pipeline_chain_tail":
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
