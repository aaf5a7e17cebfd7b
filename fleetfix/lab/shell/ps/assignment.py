"""Assignments: `$x = ...`, `$x += ...`, `$o.Name = ...`, `$h['k'] = ...`, `$a, $b = ...`,
`[int]$n = ...`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import tree_sitter

from fleetfix.lab.shell.ps.expressions import collapse, evaluate, text_of, unwrap
from fleetfix.lab.shell.ps.literals import type_name, variable_name
from fleetfix.lab.shell.ps.operators import ARITHMETIC
from fleetfix.lab.shell.ps.types import cast
from fleetfix.lab.shell.ps.values import Hashtable, NetObject, PSObject, iterate, runtime_error

if TYPE_CHECKING:
    from fleetfix.lab.shell.ps.interpreter import Interpreter

Node = tree_sitter.Node


def assign_statement(interp: Interpreter, node: Node) -> None:
    target = next(c for c in node.children if c.type == "left_assignment_expression")
    operator = text_of(next(c for c in node.children if c.type == "assignement_operator"))
    source = node.children[-1]
    value = interp.pipeline_value(source)
    if operator != "=":
        current = evaluate(interp, target)
        value = evaluate_compound(operator[0], current, value)
    assign(interp, target, value)


def assign(interp: Interpreter, target: Node, value: Any) -> None:
    target = unwrap(target)
    if target.type == "variable":
        interp.session.set_variable(variable_name(text_of(target)), value)
    elif target.type == "cast_expression":
        type_key = type_name(text_of(target.children[0]))
        assign(interp, target.children[-1], cast(type_key, value, interp.session))
    elif target.type == "member_access":
        owner = evaluate(interp, target.children[0])
        name = text_of(next(c for c in target.children if c.type == "member_name")).strip()
        _set_member(owner, name, value)
    elif target.type == "element_access":
        owner = evaluate(interp, target.children[0])
        index = evaluate(interp, next(c for c in target.children[1:] if c.is_named))
        _set_element(owner, index, value)
    elif target.type == "array_literal_expression":
        targets = [c for c in target.children if c.is_named]
        values = list(iterate(value))
        for position, each in enumerate(targets):
            rest = (
                values[position:]
                if position == len(targets) - 1
                else values[position : position + 1]
            )
            assign(
                interp,
                each,
                collapse(rest) if position == len(targets) - 1 else (rest[0] if rest else None),
            )
    else:
        raise runtime_error(
            "The assignment expression is not valid. The input to an assignment operator "
            "must be an object that is able to accept assignments, such as a variable or a "
            "property.",
            category="ParserError",
            error_id="InvalidLeftHandSide",
        )


def evaluate_compound(operator: str, current: Any, value: Any) -> Any:
    return ARITHMETIC[operator](current, value)


def _set_member(owner: Any, name: str, value: Any) -> None:
    if isinstance(owner, Hashtable):
        owner[name] = value
    elif isinstance(owner, PSObject) and owner.get(name)[0]:
        owner.set(name, value)
    elif isinstance(owner, NetObject) and owner.set_member(name, value):
        pass
    else:
        # PowerShell adds no property by assignment: that takes Add-Member.
        raise runtime_error(
            f"The property '{name}' cannot be found on this object. Verify that the property "
            "exists and can be set.",
            category="InvalidOperation",
            error_id="PropertyAssignmentException",
        )


def _set_element(owner: Any, index: Any, value: Any) -> None:
    if isinstance(owner, Hashtable):
        owner[index] = value
    elif isinstance(owner, list):
        owner[int(index)] = value
    else:
        raise runtime_error("Unable to index into an object of this type.", error_id="CannotIndex")
