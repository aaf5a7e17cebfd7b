"""Scripts made of `begin {}`, `process {}` and `end {}` blocks.

tree-sitter-powershell reads a top-level `begin { ... }` as a command named `begin` with a
script block argument; PowerShell reads it as a named block. A script whose statements are
all such blocks runs as PowerShell runs it: begin once, process once per input object (with
`$_` and `$input` set to it), end once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import tree_sitter

from fleetfix.lab.shell.ps.expressions import text_of, unwrap
from fleetfix.lab.shell.ps.values import ScriptBlock

if TYPE_CHECKING:
    from fleetfix.lab.shell.ps.interpreter import Interpreter

Node = tree_sitter.Node
_NAMES = ("begin", "process", "end")


def named_blocks(statements: Node) -> dict[str, ScriptBlock] | None:
    """The script's named blocks, or None when it is an ordinary script."""
    found: dict[str, ScriptBlock] = {}
    for statement in statements.children:
        if not statement.is_named or statement.type == "empty_statement":
            continue
        command = unwrap(statement)
        if command.type == "pipeline":
            named = [c for c in command.children if c.is_named]
            command = unwrap(named[0]) if len(named) == 1 else command
        block = _block_of(command)
        if block is None:
            return None
        name, script_block = block
        found[name] = script_block
    return found or None


def _block_of(command: Node) -> tuple[str, ScriptBlock] | None:
    if command.type != "command":
        return None
    name_node = next((c for c in command.children if c.type == "command_name"), None)
    elements = next((c for c in command.children if c.type == "command_elements"), None)
    if name_node is None or elements is None or text_of(name_node).lower() not in _NAMES:
        return None
    arguments = [unwrap(c) for c in elements.children if c.type != "command_argument_sep"]
    if len(arguments) != 1 or arguments[0].type != "script_block_expression":
        return None
    literal = arguments[0]
    return text_of(name_node).lower(), ScriptBlock(literal, text_of(literal)[1:-1])


def run_named_blocks(interp: Interpreter, blocks: dict[str, ScriptBlock], items: list[Any]) -> None:
    """Runs the blocks in the current scope, writing to the current output."""
    if "begin" in blocks:
        _emit(interp, interp.invoke_block(blocks["begin"], positional=[]))
    if "process" in blocks:
        for item in items or [None]:
            with interp.session.bound({"input": [] if item is None else [item]}):
                _emit(interp, interp.invoke_block(blocks["process"], dollar_underscore=item))
    if "end" in blocks:
        with interp.session.bound({"input": []}):
            _emit(interp, interp.invoke_block(blocks["end"]))


def _emit(interp: Interpreter, values: list[Any]) -> None:
    for value in values:
        interp.emit(value)


def run_named_block_list(interp: Interpreter, node: Node, items: list[Any]) -> None:
    """`begin`/`process`/`end` inside a function or script block (a `named_block_list`)."""
    bodies: dict[str, Node | None] = {}
    for block in node.children:
        if block.type != "named_block":
            continue
        name = next((c for c in block.children if c.type == "block_name"), None)
        body = next((c for c in block.children if c.type == "statement_block"), None)
        statements = (
            next((c for c in body.children if c.type == "statement_list"), None) if body else None
        )
        if name is not None:
            bodies[text_of(name).lower()] = statements
    if "begin" in bodies:
        interp.run_statements(bodies["begin"])
    if "process" in bodies:
        for item in items or [None]:
            with interp.session.bound({"_": item, "input": [] if item is None else [item]}):
                interp.run_statements(bodies["process"])
    if "end" in bodies:
        interp.run_statements(bodies["end"])
