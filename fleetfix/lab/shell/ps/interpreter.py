"""The PowerShell interpreter: statements, pipelines and assignments over the syntax tree.

Output goes to the innermost *sink*: a list that `capture` pushes. At the top of a script the
sink is the console, flushed before anything else (Write-Host, an error) is written, so the
console shows things in the order they happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import tree_sitter

from fleetfix.lab.shell.ps import assignment
from fleetfix.lab.shell.ps.blocks import named_blocks, run_named_block_list, run_named_blocks
from fleetfix.lab.shell.ps.expressions import collapse, evaluate, text_of, unwrap
from fleetfix.lab.shell.ps.literals import type_name, variable_name
from fleetfix.lab.shell.ps.parser import Script, parse
from fleetfix.lab.shell.ps.session import (
    ControlFlow,
    FunctionDef,
    ReturnFlow,
    Session,
)
from fleetfix.lab.shell.ps.types import cast
from fleetfix.lab.shell.ps.values import (
    ErrorRecord,
    PSRuntimeError,
    ScriptBlock,
    iterate,
    runtime_error,
)

Node = tree_sitter.Node


class Interpreter:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._console: list[Any] = []
        self._sinks: list[list[Any]] = [self._console]
        # The top-level statement running now and its script: error records point at it, as
        # 5.1's do.
        self._statement: Node | None = None
        self._script: Script | None = None
        # How many try blocks are running: inside one, errors go to its catch, unwritten.
        self.try_depth = 0
        # Set by the command layer; kept as a callable so this module does not import it.
        self.run_command: Callable[[Interpreter, Node, list[Any], bool], list[Any]] | None = None

    # -- console ---------------------------------------------------------------------------

    def flush_console(self) -> None:
        if self._console and self.session.formatter is not None:
            self.session.write_text(self.session.formatter(list(self._console)))
        self._console.clear()

    def at_top_level(self) -> bool:
        return len(self._sinks) == 1

    def emit(self, value: Any) -> None:
        self._sinks[-1].append(value)

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[Any]]:
        sink: list[Any] = []
        self._sinks.append(sink)
        try:
            yield sink
        finally:
            self._sinks.pop()

    def write_error(self, record: ErrorRecord) -> None:
        if not record.position:
            record.position = self._statement_position()
        if self.at_top_level():
            self.flush_console()
        self.session.write_error(record)
        self.session.mark_failed()

    # -- scripts and statements ------------------------------------------------------------

    def run_script(self, source: str) -> None:
        """Runs a whole script; terminating errors end it and are written to the error stream."""
        script = parse(source)
        self.run_program(script.root, script=script)

    def run_program(self, root: Node, *, script: Script) -> None:
        self._script = script
        for child in root.children:
            if child.type == "param_block":
                self.bind_param_block(child, {})
            elif child.type == "statement_list":
                blocks = named_blocks(child)
                if blocks is None:
                    self.run_top_statements(child)
                else:
                    run_named_blocks(self, blocks, [])
        self.flush_console()

    def run_top_statements(self, node: Node) -> None:
        for statement in node.children:
            self._statement = statement if statement.is_named else None
            try:
                self._run_guarded(statement)
            finally:
                self.flush_console()

    def _stops(self) -> bool:
        return self.session.preference("ErrorActionPreference").lower() == "stop"

    def run_statements(self, node: Node | None) -> None:
        if node is None:
            return
        for statement in node.children:
            self._run_guarded(statement)

    def _run_guarded(self, statement: Node) -> None:
        """A statement-terminating error ends its statement and the next one runs, unless a
        try block up the stack catches it or the error ends the whole script."""
        try:
            self.run_statement(statement)
        except PSRuntimeError as error:
            if self.try_depth > 0 or error.reported:
                raise
            if not error.record.position:
                error.record.position = self._statement_position()
            self.write_error(error.record)
            error.reported = True
            if error.script_terminating or self._stops():
                raise

    def _statement_position(self) -> str:
        if self._statement is None or self._script is None:
            return ""
        return statement_position(*self._script.where(self._statement))

    def capture_statements(self, node: Node | None) -> list[Any]:
        with self.capture() as sink:
            self.run_statements(node)
        return sink

    def run_statement(self, node: Node) -> None:
        kind = node.type
        if kind in ("empty_statement", ";", "comment") or not node.is_named:
            return
        # $? is what the statement that just ended left: reading it inside this statement
        # sees the previous one's, and this one's counts from its end.
        outer_failed = self.session.statement_failed
        self.session.statement_failed = False
        try:
            handler = _STATEMENTS.get(kind)
            if handler is None:
                for value in self.pipeline_output(node):
                    self.emit(value)
            else:
                handler(self, node)
        except PSRuntimeError:
            self.session.mark_failed()
            raise
        except (ControlFlow, RecursionError):
            raise
        except Exception as exc:
            # A .NET call that throws (bad regex, index out of range, a char out of range)
            # is a statement-terminating error in PowerShell, never a crash of the shell.
            self.session.mark_failed()
            raise runtime_error(
                f"Exception: {type(exc).__name__}: {exc}",
                exception_type="System.Management.Automation.MethodInvocationException",
                category="NotSpecified",
                error_id="LabDotNetException",
            ) from exc
        finally:
            failed = self.session.statement_failed
            self.session.last_succeeded = not failed
            self.session.statement_failed = outer_failed or failed

    # -- pipelines -------------------------------------------------------------------------

    def pipeline_output(self, node: Node) -> list[Any]:
        """Everything a pipeline (or any statement) writes to the output stream."""
        node = unwrap(node) if node.type != "pipeline" else node
        if node.type == "pipeline":
            inner = [c for c in node.children if c.is_named]
            if len(inner) == 1:
                return self.pipeline_output(unwrap(inner[0]))
        if node.type in _STATEMENTS:
            return self.capture_statements_of(node)
        if node.type == "assignment_expression":
            self.assign_statement(node)
            return []
        if node.type == "pipeline_chain":
            return self._run_chain(node)
        if node.type == "command":
            return self._command(node, [], has_input=False)
        value = evaluate(self, node)
        if node.type in ("post_increment_expression", "pre_increment_expression"):
            return []
        return list(iterate(value))

    def capture_statements_of(self, node: Node) -> list[Any]:
        with self.capture() as sink:
            self.run_statement(node)
        return sink

    def pipeline_value(self, node: Node) -> Any:
        """A pipeline used as a value: an expression keeps its value (an empty array stays an
        array), commands give $null, one object, or an array."""
        inner = unwrap(node)
        if inner.type == "pipeline":
            named = [c for c in inner.children if c.is_named]
            if len(named) == 1:
                return self.pipeline_value(named[0])
        if (
            inner.type in ("command", "pipeline_chain", "assignment_expression")
            or inner.type in _STATEMENTS
        ):
            return collapse(self.pipeline_output(inner))
        return evaluate(self, inner)

    def _run_chain(self, node: Node) -> list[Any]:
        elements = [c for c in node.children if c.is_named]
        items: list[Any] = []
        for position, element in enumerate(elements):
            element = unwrap(element)
            if element.type == "command":
                items = self._command(element, items, has_input=position > 0)
            elif position == 0:
                items = list(iterate(evaluate(self, element)))
            else:
                raise runtime_error(
                    "Expressions are only allowed as the first element of a pipeline.",
                    category="ParserError",
                    error_id="ExpressionsMustBeFirstInPipeline",
                )
        return items

    def _command(self, node: Node, items: list[Any], *, has_input: bool) -> list[Any]:
        if self.run_command is None:
            raise runtime_error("No command layer is attached to the interpreter.")
        return self.run_command(self, node, items, has_input)

    # -- blocks, functions, parameters -----------------------------------------------------

    def invoke_block(
        self,
        block: ScriptBlock | FunctionDef,
        *,
        dollar_underscore: Any = None,
        arguments: dict[str, Any] | None = None,
        positional: list[Any] | None = None,
        new_scope: bool = False,
    ) -> list[Any]:
        """Runs a script block or function. Blocks given to ForEach-Object and Where-Object run
        in the caller's scope (their assignments stay); functions get a scope of their own."""
        body = block.node if isinstance(block, ScriptBlock) else block.body
        automatic = {"_": dollar_underscore, "args": positional or []}
        if new_scope:
            self.session.push_scope(automatic)
        try:
            with (
                self.session.bound({} if new_scope else automatic),
                self.capture() as sink,
                contextlib.suppress(ReturnFlow),
            ):
                if isinstance(block, FunctionDef) and block.parameters is not None:
                    self.bind_param_block(block.parameters, arguments or {}, positional)
                self._run_block_body(body, arguments or {}, positional or [])
            return sink
        finally:
            if new_scope:
                self.session.pop_scope()

    def _run_block_body(self, body: Node, named: dict[str, Any], positional: list[Any]) -> None:
        for child in body.children:
            if child.type == "script_block":
                self._run_block_body(child, named, positional)
            elif child.type == "param_block":
                self.bind_param_block(child, named, positional)
            elif child.type == "script_block_body":
                for part in child.children:
                    if part.type == "statement_list":
                        self.run_statements(part)
                    elif part.type == "named_block_list":
                        found, piped = self.session.get_variable("input")
                        run_named_block_list(self, part, list(iterate(piped)) if found else [])
            elif child.type == "statement_list":
                self.run_statements(child)

    def bind_param_block(
        self, node: Node, named: dict[str, Any], positional: list[Any] | None = None
    ) -> None:
        remaining = list(positional or [])
        lowered = {k.lower(): v for k, v in named.items()}
        listing = next((c for c in node.children if c.type == "parameter_list"), None)
        for parameter in listing.children if listing is not None else []:
            if parameter.type != "script_parameter":
                continue
            variable = next(c for c in parameter.children if c.type == "variable")
            name = variable_name(text_of(variable))
            if name.lower() in lowered:
                value = lowered[name.lower()]
            elif remaining:
                value = remaining.pop(0)
            else:
                default = next(
                    (c for c in parameter.children if c.type == "script_parameter_default"), None
                )
                value = self.pipeline_value(default.children[-1]) if default is not None else None
            value = self._apply_parameter_type(parameter, value)
            self.session.set_variable(name, value)

    def _apply_parameter_type(self, parameter: Node, value: Any) -> Any:
        attributes = next((c for c in parameter.children if c.type == "attribute_list"), None)
        for attribute in attributes.children if attributes is not None else []:
            literal = next((c for c in attribute.children if c.type == "type_literal"), None)
            if literal is None:
                continue
            key = type_name(text_of(literal))
            if value is not None:
                return cast(key, value, self.session)
            if key.lower() in _VALUE_TYPES:
                # An unbound [int] or [string] parameter holds its type's default, not $null.
                return cast(key, None, self.session)
        return value

    # -- assignment (see assignment.py) --------------------------------------------------

    def assign_statement(self, node: Node) -> None:
        assignment.assign_statement(self, node)

    def assign(self, target: Node, value: Any) -> None:
        assignment.assign(self, target, value)


_VALUE_TYPES = frozenset({"string", "int", "int32", "int64", "long", "double", "bool", "switch"})


def statement_position(row: int, column: int, first: str) -> str:
    """`At line:1 char:1`, the statement's first line and a `~` underline, as 5.1 prints
    (row and column from 0)."""
    return f"At line:{row + 1} char:{column + 1}\r\n+ {first}\r\n+ {'~' * max(1, len(first))}"


_STATEMENTS: dict[str, Callable[[Interpreter, Node], None]] = {}


def statement(
    kind: str,
) -> Callable[[Callable[[Interpreter, Node], None]], Callable[[Interpreter, Node], None]]:
    def register(
        handler: Callable[[Interpreter, Node], None],
    ) -> Callable[[Interpreter, Node], None]:
        _STATEMENTS[kind] = handler
        return handler

    return register


def statement_kinds() -> frozenset[str]:
    return frozenset(_STATEMENTS)


# Members used by statement modules; re-exported to keep their imports short.
__all__ = ["Interpreter", "statement", "statement_kinds", "statement_position"]
