"""Statements: if, foreach, for, while, try/catch/finally, throw, exit, return, break,
continue, function definitions, switch."""

from __future__ import annotations

from typing import Any

import tree_sitter

from fleetfix.lab.shell.ps.expressions import evaluate, text_of, unwrap
from fleetfix.lab.shell.ps.interpreter import Interpreter, statement
from fleetfix.lab.shell.ps.literals import type_name, variable_name
from fleetfix.lab.shell.ps.session import (
    BreakFlow,
    ContinueFlow,
    ExitFlow,
    FunctionDef,
    ReturnFlow,
)
from fleetfix.lab.shell.ps.values import (
    ErrorRecord,
    PSRuntimeError,
    equals,
    iterate,
    to_bool,
    to_int,
    to_str,
)

Node = tree_sitter.Node


def _block(node: Node) -> Node | None:
    return next((c for c in node.children if c.type == "statement_list"), None)


def _child(node: Node, kind: str) -> Node | None:
    return next((c for c in node.children if c.type == kind), None)


@statement("if_statement")
def _if(interp: Interpreter, node: Node) -> None:
    condition = _child(node, "pipeline")
    body = _child(node, "statement_block")
    if condition is not None and to_bool(interp.pipeline_value(condition)):
        interp.run_statements(_block(body) if body is not None else None)
        return
    clauses = _child(node, "elseif_clauses")
    for clause in clauses.children if clauses is not None else []:
        test = _child(clause, "pipeline")
        if test is not None and to_bool(interp.pipeline_value(test)):
            block = _child(clause, "statement_block")
            interp.run_statements(_block(block) if block is not None else None)
            return
    otherwise = _child(node, "else_clause")
    if otherwise is not None:
        block = _child(otherwise, "statement_block")
        interp.run_statements(_block(block) if block is not None else None)


def _loop_body(interp: Interpreter, body: Node | None) -> bool:
    """Runs one iteration; False when the loop must end (break)."""
    try:
        interp.run_statements(_block(body) if body is not None else None)
    except BreakFlow:
        return False
    except ContinueFlow:
        return True
    return True


@statement("foreach_statement")
def _foreach(interp: Interpreter, node: Node) -> None:
    variable = _child(node, "variable")
    source = _child(node, "pipeline")
    body = _child(node, "statement_block")
    if variable is None or source is None:
        return
    name = variable_name(text_of(variable))
    for item in list(iterate(interp.pipeline_value(source))):
        interp.session.set_variable(name, item)
        if not _loop_body(interp, body):
            break


@statement("for_statement")
def _for(interp: Interpreter, node: Node) -> None:
    initializer = _child(node, "for_initializer")
    condition = _child(node, "for_condition")
    iterator = _child(node, "for_iterator")
    body = _child(node, "statement_block")
    if initializer is not None:
        interp.pipeline_output(initializer.children[0])
    while condition is None or to_bool(interp.pipeline_value(condition.children[0])):
        if not _loop_body(interp, body):
            break
        if iterator is not None:
            interp.pipeline_output(iterator.children[0])


@statement("while_statement")
def _while(interp: Interpreter, node: Node) -> None:
    condition = _child(node, "while_condition")
    body = _child(node, "statement_block")
    while condition is not None and to_bool(interp.pipeline_value(condition.children[0])):
        if not _loop_body(interp, body):
            break


@statement("do_statement")
def _do(interp: Interpreter, node: Node) -> None:
    body = _child(node, "statement_block")
    condition = _child(node, "while_condition")
    until = any(c.type == "until" for c in node.children)
    while True:
        if not _loop_body(interp, body):
            break
        holds = condition is not None and to_bool(interp.pipeline_value(condition.children[0]))
        if holds == until:
            break


@statement("flow_control_statement")
def _flow(interp: Interpreter, node: Node) -> None:
    keyword = text_of(node.children[0]).lower()
    argument = _child(node, "pipeline")
    value: Any = interp.pipeline_value(argument) if argument is not None else None
    if keyword == "throw":
        raise PSRuntimeError(_thrown_record(value), script_terminating=True)
    if keyword == "exit":
        raise ExitFlow(to_int(value) if value is not None else 0)
    if keyword == "return":
        if argument is not None:
            for item in iterate(value):
                interp.emit(item)
        raise ReturnFlow()
    if keyword == "break":
        raise BreakFlow()
    if keyword == "continue":
        raise ContinueFlow()


def _thrown_record(value: Any) -> ErrorRecord:
    if isinstance(value, ErrorRecord):
        return value
    message = to_str(value) if value is not None else "ScriptHalted"
    return ErrorRecord(message, category="OperationStopped", error_id=message, target=message)


@statement("try_statement")
def _try(interp: Interpreter, node: Node) -> None:
    body = _child(node, "statement_block")
    clauses = _child(node, "catch_clauses")
    final = _child(node, "finally_clause")
    try:
        interp.try_depth += 1
        try:
            interp.run_statements(_block(body) if body is not None else None)
        finally:
            interp.try_depth -= 1
    except PSRuntimeError as error:
        catch = _matching_catch(clauses, error.record)
        if catch is None:
            raise
        block = _child(catch, "statement_block")
        # A caught error is handled: $? after the try is what the catch block leaves.
        interp.session.statement_failed = False
        with interp.session.bound({"_": error.record, "PSItem": error.record}):
            interp.run_statements(_block(block) if block is not None else None)
    finally:
        if final is not None:
            block = _child(final, "statement_block")
            interp.run_statements(_block(block) if block is not None else None)


def _matching_catch(clauses: Node | None, record: ErrorRecord) -> Node | None:
    """The first catch clause whose types include the error's exception type (or a base of
    it the lab knows), or that names no type at all."""
    if clauses is None:
        return None
    for clause in clauses.children:
        if clause.type != "catch_clause":
            continue
        types = _child(clause, "catch_type_list")
        if types is None:
            return clause
        names = [type_name(text_of(t)) for t in types.children if t.type == "type_literal"]
        if any(_catches(name, record.exception_type) for name in names):
            return clause
    return None


# Bases of the exceptions the lab raises, short names, lower case.
_BASES = {
    "unauthorizedaccessexception": ("systemexception",),
    "ioexception": ("systemexception",),
    "filenotfoundexception": ("ioexception", "systemexception"),
    "argumentexception": ("systemexception",),
    "formatexception": ("systemexception",),
}


def _catches(catch_type: str, exception_type: str) -> bool:
    wanted = catch_type.rpartition(".")[2]
    actual = exception_type.lower().rpartition(".")[2]
    if wanted in ("exception", actual):
        return True
    if exception_type.lower().startswith("system.management.automation.") or actual.endswith(
        "commandexception"
    ):
        # PowerShell's own errors all derive from RuntimeException.
        return wanted == "runtimeexception"
    return wanted in _BASES.get(actual, ())


@statement("function_statement")
def _function(interp: Interpreter, node: Node) -> None:
    name_node = _child(node, "function_name")
    body = _child(node, "script_block")
    if name_node is None or body is None:
        return
    name = text_of(name_node)
    parameters = _child(node, "function_parameter_declaration")
    interp.session.functions[name.lower()] = FunctionDef(name, body, parameters)


@statement("switch_statement")
def _switch(interp: Interpreter, node: Node) -> None:
    condition = _child(node, "switch_condition")
    body = _child(node, "switch_body")
    if condition is None or body is None:
        return
    value = interp.pipeline_value(_child(condition, "pipeline") or condition)
    clauses = _child(body, "switch_clauses")
    for item in iterate(value):
        for clause in clauses.children if clauses is not None else []:
            test = _child(clause, "switch_clause_condition")
            block = _child(clause, "statement_block")
            if test is None:
                continue
            label = unwrap(test)
            if _switch_matches(interp, label, item):
                with interp.session.bound({"_": item}):
                    try:
                        interp.run_statements(_block(block) if block is not None else None)
                    except BreakFlow:
                        return


def _switch_matches(interp: Interpreter, label: Node, item: Any) -> bool:
    text = text_of(label)
    if label.type == "generic_token" and text.lower() == "default":
        return True
    if label.type in ("generic_token", "simple_name"):
        return equals(item, text)
    return equals(item, evaluate(interp, label))
