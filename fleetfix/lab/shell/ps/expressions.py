"""Evaluating expression nodes of the tree-sitter-powershell syntax tree."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import tree_sitter

from fleetfix.lab.shell.ps import operators
from fleetfix.lab.shell.ps.literals import (
    parse_number,
    type_name,
    unescape,
    variable_name,
    verbatim,
)
from fleetfix.lab.shell.ps.members import call_method, get_member
from fleetfix.lab.shell.ps.types import TypeRef, cast, is_instance
from fleetfix.lab.shell.ps.values import (
    Hashtable,
    PSObject,
    ScriptBlock,
    iterate,
    runtime_error,
    to_bool,
    to_int,
    to_number,
    to_str,
)

if TYPE_CHECKING:
    from fleetfix.lab.shell.ps.interpreter import Interpreter

Node = tree_sitter.Node

# Grammar levels that hold a single child when no operator is present.
PASSTHROUGH = frozenset(
    {
        "pipeline_chain",
        "logical_expression",
        "bitwise_expression",
        "comparison_expression",
        "additive_expression",
        "multiplicative_expression",
        "format_expression",
        "range_expression",
        "array_literal_expression",
        "unary_expression",
        "argument_expression",
        "logical_argument_expression",
        "bitwise_argument_expression",
        "comparison_argument_expression",
        "additive_argument_expression",
        "multiplicative_argument_expression",
        "format_argument_expression",
        "range_argument_expression",
        "expression_with_unary_operator",
        "key_expression",
        "while_condition",
        "for_condition",
        "for_initializer",
        "for_iterator",
        "switch_clause_condition",
        "left_assignment_expression",
        "string_literal",
        "integer_literal",
        "primary_expression",
        "value",
    }
)


def unwrap(node: Node) -> Node:
    while node.type in PASSTHROUGH and node.child_count == 1 and node.children[0] is not None:
        node = node.children[0]
    return node


def text_of(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def evaluate(interp: Interpreter, node: Node) -> Any:
    node = unwrap(node)
    handler = _HANDLERS.get(node.type)
    if handler is None:
        raise runtime_error(
            f"The lab's PowerShell does not support '{node.type}': {text_of(node)[:60]}",
            category="NotImplemented",
            error_id="LabUnsupportedSyntax",
        )
    return handler(interp, node)


def _operands(node: Node) -> list[Node]:
    return [c for c in node.children if c.is_named]


def _variable(interp: Interpreter, node: Node) -> Any:
    name = variable_name(text_of(node))
    if name == "_" or name == "PSItem":
        return interp.session.get_variable("_")[1]
    found, value = interp.session.get_variable(name)
    if not found and interp.session.strict:
        raise runtime_error(
            f"The variable '${name}' cannot be retrieved because it has not been set.",
            category="InvalidOperation",
            error_id="VariableIsUndefined",
            target=name,
        )
    return value if found else None


def _integer(interp: Interpreter, node: Node) -> Any:
    value = parse_number(text_of(node))
    if value is None:
        raise runtime_error(
            f"Bad numeric constant: {text_of(node)}.", error_id="BadNumericConstant"
        )
    return value


def _verbatim_string(interp: Interpreter, node: Node) -> str:
    return verbatim(text_of(node))


def _expandable_string(interp: Interpreter, node: Node) -> str:
    """Literal text between embedded `$var` / `$(...)` nodes is unescaped; nodes are evaluated."""
    raw = node.text or b""
    here = raw.startswith(b"@")
    start_skip, end_skip = (2, 2) if here else (1, 1)
    begin, end = node.start_byte + start_skip, node.end_byte - end_skip
    pieces: list[str] = []
    cursor = begin
    for child in node.children:
        if child.start_byte < begin or child.end_byte > end:
            continue
        pieces.append(_literal(raw, cursor - node.start_byte, child.start_byte - node.start_byte))
        if child.type == '""':
            pieces.append('"')
        elif child.type == "variable":
            pieces.append(to_str(_variable(interp, child)))
        else:
            pieces.append(to_str(evaluate(interp, child)))
        cursor = child.end_byte
    pieces.append(_literal(raw, cursor - node.start_byte, end - node.start_byte))
    text = "".join(pieces)
    if here:
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.removesuffix("\n").removesuffix("\r")
    return text


def _literal(raw: bytes, start: int, end: int) -> str:
    return unescape(raw[start:end].decode("utf-8", "replace").replace('""', '"'))


def _sub_expression(interp: Interpreter, node: Node) -> Any:
    body = next((c for c in node.children if c.type == "statement_list"), None)
    return collapse(interp.capture_statements(body) if body is not None else [])


def _array_expression(interp: Interpreter, node: Node) -> list[Any]:
    body = next((c for c in node.children if c.type == "statement_list"), None)
    return interp.capture_statements(body) if body is not None else []


def _parenthesized(interp: Interpreter, node: Node) -> Any:
    inner = next(c for c in node.children if c.is_named)
    return interp.pipeline_value(inner)


def _array_literal(interp: Interpreter, node: Node) -> list[Any]:
    return [evaluate(interp, c) for c in _operands(node)]


def _hash_literal(interp: Interpreter, node: Node) -> Hashtable:
    table = Hashtable()
    body = next((c for c in node.children if c.type == "hash_literal_body"), None)
    for entry in body.children if body is not None else []:
        if entry.type != "hash_entry":
            continue
        key_node, value_node = _operands(entry)[0], _operands(entry)[-1]
        key_inner = unwrap(key_node)
        key = text_of(key_inner) if key_inner.type == "simple_name" else evaluate(interp, key_inner)
        table[key] = interp.pipeline_value(value_node)
    return table


def _script_block(interp: Interpreter, node: Node) -> ScriptBlock:
    # The whole literal: the grammar puts a one-line `param()` beside the script_block node.
    return ScriptBlock(node, text_of(node)[1:-1])


def _type_literal(interp: Interpreter, node: Node) -> TypeRef:
    return TypeRef(type_name(text_of(node)), interp.session)


def _member_name(node: Node) -> str:
    return text_of(node).strip()


def _member_access(interp: Interpreter, node: Node) -> Any:
    parts = node.children
    target = evaluate(interp, parts[0])
    name_node = next(c for c in parts if c.type == "member_name")
    name = _member_name(name_node)
    if not name.replace("_", "").isalnum():
        name = to_str(evaluate(interp, name_node.children[0]))
    if interp.session.strict and isinstance(target, PSObject) and not target.get(name)[0]:
        raise runtime_error(
            f"The property '{name}' cannot be found on this object. Verify that the property "
            "exists.",
            category="NotSpecified",
            error_id="PropertyNotFoundStrict",
        )
    return get_member(target, name)


def _invocation(interp: Interpreter, node: Node) -> Any:
    parts = node.children
    target = evaluate(interp, parts[0])
    name = _member_name(next(c for c in parts if c.type == "member_name"))
    arguments_node = next((c for c in parts if c.type == "argument_list"), None)
    arguments = _arguments(interp, arguments_node) if arguments_node is not None else []
    if isinstance(target, list | tuple) and name.lower() not in (
        "contains",
        "indexof",
        "gettype",
        "tostring",
        "equals",
    ):
        # Method calls enumerate collections (PowerShell 3+), as property access does.
        return [call_method(item, name, arguments) for item in target]
    return call_method(target, name, arguments)


def _arguments(interp: Interpreter, node: Node) -> list[Any]:
    listing = next((c for c in node.children if c.type == "argument_expression_list"), None)
    if listing is None:
        return []
    return [evaluate(interp, c) for c in listing.children if c.is_named]


def _element_access(interp: Interpreter, node: Node) -> Any:
    target = evaluate(interp, node.children[0])
    index_node = next(c for c in node.children[1:] if c.is_named)
    index = evaluate(interp, index_node)
    if isinstance(index, list) and not isinstance(target, Hashtable):
        return [_index_one(target, i) for i in index]
    return _index_one(target, index)


def _index_one(target: Any, index: Any) -> Any:
    if isinstance(target, Hashtable):
        return target[index]
    if isinstance(target, list | tuple | bytes | str):
        position = to_int(index)
        if -len(target) <= position < len(target):
            return target[position]
        return None
    if target is None:
        raise runtime_error(
            "Cannot index into a null array.", category="InvalidOperation", error_id="NullArray"
        )
    return target if to_int(index) in (0, -1) else None


def _unary(interp: Interpreter, node: Node) -> Any:
    operator, operand = node.children[0], node.children[-1]
    if operator.type == "cast_expression":
        return evaluate(interp, operator)
    op = text_of(operator).lower()
    value = evaluate(interp, operand)
    if op in ("-not", "!"):
        return not to_bool(value)
    if op == "-":
        return -to_number(value)
    if op == "+":
        return to_number(value)
    if op == ",":
        return [value]
    if op == "-join":
        return "".join(to_str(v) for v in iterate(value))
    if op == "-split":
        return to_str(value).split()
    raise runtime_error(f"Unsupported unary operator '{op}'.", error_id="LabUnsupportedSyntax")


def _cast(interp: Interpreter, node: Node) -> Any:
    type_node = node.children[0]
    value = evaluate(interp, node.children[-1])
    return cast(type_name(text_of(type_node)), value, interp.session)


def _binary(interp: Interpreter, node: Node) -> Any:
    left_node, operator_node, right_node = node.children[0], node.children[1], node.children[2]
    op = text_of(operator_node).strip().lower()
    if op in ("-and", "-or"):
        left = to_bool(evaluate(interp, left_node))
        if op == "-and" and not left:
            return False
        if op == "-or" and left:
            return True
        return to_bool(evaluate(interp, right_node))
    left = evaluate(interp, left_node)
    if op in ("-is", "-isnot"):
        result = is_instance(left, type_name(text_of(unwrap(right_node))))
        return result if op == "-is" else not result
    right = evaluate(interp, right_node)
    if op == "-xor":
        return to_bool(left) != to_bool(right)
    if op in operators.ARITHMETIC:
        return operators.ARITHMETIC[op](left, right)
    if op == "..":
        low, high = to_int(left), to_int(right)
        step = 1 if high >= low else -1
        return list(range(low, high + step, step))
    if op == "-f":
        return operators.format_operator(left, right)
    if op == "-as":
        return cast(type_name(text_of(unwrap(right_node))), left, interp.session)
    return operators.compare(op, left, right)


def _increment(interp: Interpreter, node: Node) -> Any:
    target = next(c for c in node.children if c.is_named)
    operator = next(c for c in node.children if not c.is_named)
    before = evaluate(interp, target)
    after = to_number(before) + (1 if text_of(operator) == "++" else -1)
    interp.assign(target, after)
    return None


def collapse(items: list[Any]) -> Any:
    if not items:
        return None
    return items[0] if len(items) == 1 else items


_HANDLERS: dict[str, Callable[[Interpreter, Node], Any]] = {
    "variable": _variable,
    "decimal_integer_literal": _integer,
    "hexadecimal_integer_literal": _integer,
    "real_literal": _integer,
    "verbatim_string_characters": _verbatim_string,
    "verbatim_here_string_characters": _verbatim_string,
    "expandable_string_literal": _expandable_string,
    "expandable_here_string_literal": _expandable_string,
    "sub_expression": _sub_expression,
    "array_expression": _array_expression,
    "parenthesized_expression": _parenthesized,
    "array_literal_expression": _array_literal,
    "hash_literal_expression": _hash_literal,
    "script_block_expression": _script_block,
    "type_literal": _type_literal,
    "member_access": _member_access,
    "invokation_expression": _invocation,
    "element_access": _element_access,
    "expression_with_unary_operator": _unary,
    "cast_expression": _cast,
    "logical_expression": _binary,
    "bitwise_expression": _binary,
    "comparison_expression": _binary,
    "additive_expression": _binary,
    "multiplicative_expression": _binary,
    "format_expression": _binary,
    "range_expression": _binary,
    "post_increment_expression": _increment,
    "pre_increment_expression": _increment,
    "post_decrement_expression": _increment,
    "pre_decrement_expression": _increment,
}


def register(node_type: str, handler: Callable[[Interpreter, Node], Any]) -> None:
    """Lets the interpreter add statement-like expressions (`$x = if (...) {...}`)."""
    _HANDLERS[node_type] = handler
