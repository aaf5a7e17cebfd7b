"""Running a command node: resolving the name (function, cmdlet, external program),
binding arguments to parameters the way PowerShell does, and handling redirections."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import tree_sitter

from fleetfix.lab.shell.ps import arglists
from fleetfix.lab.shell.ps import cmdlets as _cmdlets  # registers every cmdlet
from fleetfix.lab.shell.ps.cmdlets.base import Call, Cmdlet, find_cmdlet
from fleetfix.lab.shell.ps.expressions import evaluate, text_of, unwrap
from fleetfix.lab.shell.ps.interpreter import Interpreter
from fleetfix.lab.shell.ps.literals import parse_number, variable_name
from fleetfix.lab.shell.ps.native import run_native
from fleetfix.lab.shell.ps.session import FunctionDef
from fleetfix.lab.shell.ps.values import (
    ErrorRecord,
    Hashtable,
    PSRuntimeError,
    ScriptBlock,
    iterate,
    runtime_error,
    to_bool,
    to_str,
)

Node = tree_sitter.Node
_REDIRECTION = re.compile(r"^([*1-6]?)>>?(.*)$")
_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")
_ = _cmdlets
# Nested function calls allowed before "call depth overflow"; each call holds two scopes.
MAX_CALL_DEPTH = 100


@dataclass(frozen=True, slots=True)
class Argument:
    name: str | None  # parameter name without the dash, or None for a positional value
    value: Any = None
    has_value: bool = True


@dataclass(slots=True)
class Redirects:
    errors: str | None = None  # "null" or "output"
    output_to_null: bool = False


def run_command(interp: Interpreter, node: Node, items: list[Any], has_input: bool) -> list[Any]:
    target, literal = _command_name(interp, node)
    arguments, redirects = _arguments(interp, node)
    if isinstance(target, ScriptBlock):
        # `& { ... }` runs the block in a scope of its own, `. { ... }` in the caller's.
        dot_sourced = any(
            text_of(c) == "." for c in node.children if c.type == "command_invokation_operator"
        )
        positional = [a.value for a in arguments if a.name is None]
        output = interp.invoke_block(target, positional=positional, new_scope=not dot_sourced)
        return [] if redirects.output_to_null else output
    name = to_str(target)
    if literal and not arguments:
        value = _literal_command(name)
        if value is not None:
            return list(iterate(value))
    function = interp.session.functions.get(name.lower())
    if function is not None:
        output = _call_function(interp, function, arguments, items)
    else:
        spec = find_cmdlet(name)
        if spec is not None:
            output = _call_cmdlet(interp, spec, arguments, items, has_input, redirects)
        else:
            output = run_native(
                interp, name, [_native_text(a) for a in arguments], redirects.errors
            )
    return [] if redirects.output_to_null else output


def _literal_command(name: str) -> Any:
    # The grammar reads `1..3` or `10KB` in statement position as a command name; PowerShell
    # reads them as expressions.
    match = _RANGE.match(name)
    if match is not None:
        low, high = int(match.group(1)), int(match.group(2))
        step = 1 if high >= low else -1
        return list(range(low, high + step, step))
    return parse_number(name)


def _command_name(interp: Interpreter, node: Node) -> tuple[Any, bool]:
    for child in node.children:
        if child.type == "command_name":
            return text_of(child), True
        if child.type == "command_name_expr":
            inner = child.children[0]
            if inner.type == "path_command_name":
                # `& $block` and `& C:\x.exe`: a variable holding the command, or a path.
                text = text_of(inner)
                if text.startswith("$"):
                    return interp.session.get_variable(variable_name(text))[1], False
                return text, False
            if inner.type == "command_name":
                return text_of(inner), False
            return evaluate(interp, inner), False
    raise runtime_error("A command has no name.", error_id="LabUnsupportedSyntax")


def _arguments(interp: Interpreter, node: Node) -> tuple[list[Argument], Redirects]:
    elements = next((c for c in node.children if c.type == "command_elements"), None)
    arguments: list[Argument] = []
    redirects = Redirects()
    bind_next = False
    comma_list: list[Any] | None = None  # the array argument a comma list is building
    for child in elements.children if elements is not None else []:
        if child.type == "command_argument_sep":
            bind_next = bind_next or any(c.type == ":" for c in child.children)
            continue
        if _continues_array(child, arguments):
            # `Name,Status` reaches us as `Name` and `,Status`: one array argument.
            if comma_list is None:
                comma_list = _list_start(arguments[-1].value, child.prev_named_sibling)
            comma_list.extend(
                arglists.continuation_values(
                    interp, child, lambda element: _element_value(interp, element)[0]
                )
            )
            arguments[-1] = Argument(arguments[-1].name, comma_list)
            continue
        comma_list = None
        if child.type == "command_parameter":
            arguments.append(Argument(text_of(child)[1:].rstrip(":"), None, has_value=False))
            bind_next = text_of(child).endswith(":")
            continue
        if _redirect(interp, child, redirects):
            continue
        value, splat = _element_value(interp, child)
        if bind_next and arguments and not arguments[-1].has_value:
            arguments[-1] = Argument(arguments[-1].name, value)
        elif splat is not None:
            arguments.extend(splat)
        else:
            arguments.append(Argument(None, value))
        bind_next = False
    return arguments, redirects


def _continues_array(child: Node, arguments: list[Argument]) -> bool:
    # The parser has already rejected comma-led elements with no argument before them.
    return bool(arguments) and arguments[-1].has_value and arglists.starts_with_comma(child)


def _list_start(value: Any, element: Node | None) -> list[Any]:
    """`1,2 ,3` is one list of three; `$list ,3` is a list of two, the first a list."""
    while element is not None and element.type == "command_argument_sep":
        element = element.prev_named_sibling
    literal = element is not None and unwrap(element).type == "array_literal_expression"
    return list(value) if literal and isinstance(value, list) else [value]


def _redirect(interp: Interpreter, child: Node, redirects: Redirects) -> bool:
    text = text_of(child).strip()
    if child.type not in ("redirection", "generic_token") or ">" not in text:
        return False
    match = _REDIRECTION.match(text.replace(" ", ""))
    if match is None:
        return False
    stream, target = match.group(1), match.group(2).lower()
    if stream in ("2", "*") and target == "&1":
        redirects.errors = "output"
    elif stream in ("2", "*") and target == "$null":
        redirects.errors = "null"
    if stream in ("", "1", "*") and target == "$null":
        redirects.output_to_null = True
    if target not in ("$null", "&1"):
        raise runtime_error(
            "The lab does not redirect output to files.", error_id="LabUnsupportedSyntax"
        )
    return True


def _element_value(interp: Interpreter, child: Node) -> tuple[Any, list[Argument] | None]:
    inner = unwrap(child)
    if inner.type == "generic_token":
        return text_of(inner), None
    if inner.type == "variable" and text_of(inner).startswith("@"):
        found, value = interp.session.get_variable(variable_name(text_of(inner)))
        if isinstance(value, Hashtable):
            return None, [Argument(str(k), v) for k, v in value.items()]
        return None, [Argument(None, v) for v in iterate(value if found else None)]
    return evaluate(interp, inner), None


def _native_text(argument: Argument) -> str:
    from fleetfix.lab.shell.ps.values import to_str

    if argument.name is None:
        return to_str(argument.value)
    if argument.has_value:
        return f"-{argument.name}:{to_str(argument.value)}"
    return f"-{argument.name}"


def bind(spec: Cmdlet, arguments: list[Argument]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    positional: list[Any] = []
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument.name is None:
            positional.append(argument.value)
        else:
            name = _resolve(spec, argument.name)
            if spec.is_switch(name):
                params[name] = to_bool(argument.value) if argument.has_value else True
            elif argument.has_value:
                params[name] = argument.value
            elif index + 1 < len(arguments) and arguments[index + 1].name is None:
                params[name] = arguments[index + 1].value
                index += 1
            else:
                raise _binding_error(
                    spec,
                    f"Missing an argument for parameter '{name}'. Specify a parameter of type "
                    "'System.Object' and try again.",
                    "MissingArgument",
                )
        index += 1
    _bind_positional(spec, params, positional)
    return params


def _bind_positional(spec: Cmdlet, params: dict[str, Any], positional: list[Any]) -> None:
    bound: list[str] = []
    for name in spec.parameters[: spec.positional]:
        if not positional:
            return
        if name not in params:
            params[name] = positional.pop(0)
            bound.append(name)
    if positional and spec.rest is not None:
        # `Write-Output a b`: the remaining arguments join the one bound by position.
        rest = [params[spec.rest], *positional] if spec.rest in bound else positional
        params[spec.rest] = rest if len(rest) > 1 else rest[0]
    elif positional:
        raise _binding_error(
            spec,
            f"A positional parameter cannot be found that accepts argument '{positional[0]}'.",
            "PositionalParameterNotFound",
        )


def _resolve(spec: Cmdlet, given: str) -> str:
    names = spec.all_names()
    exact = [n for n in names if n.lower() == given.lower()]
    if exact:
        return exact[0]
    matches = [n for n in names if n.lower().startswith(given.lower())]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise _binding_error(
            spec,
            f"Parameter cannot be processed because the parameter name '{given}' is ambiguous. "
            f"Possible matches include: {' '.join('-' + m for m in matches)}.",
            "AmbiguousParameter",
        )
    raise _binding_error(
        spec,
        f"A parameter cannot be found that matches parameter name '{given}'.",
        "NamedParameterNotFound",
    )


def _binding_error(spec: Cmdlet, message: str, reason: str) -> PSRuntimeError:
    return PSRuntimeError(
        ErrorRecord(
            message,
            exception_type="System.Management.Automation.ParameterBindingException",
            category="InvalidArgument",
            error_id=f"{reason},{spec.name}",
            command=spec.name,
        )
    )


def _call_cmdlet(
    interp: Interpreter,
    spec: Cmdlet,
    arguments: list[Argument],
    items: list[Any],
    has_input: bool,
    redirects: Redirects,
) -> list[Any]:
    call = Call(interp, spec, bind(spec, arguments), items, has_input)
    call.error_redirect = redirects.errors
    spec.run(call)
    if call.failed:
        interp.session.mark_failed()
    return call.output


def _call_function(
    interp: Interpreter, function: FunctionDef, arguments: list[Argument], items: list[Any]
) -> list[Any]:
    named: dict[str, Any] = {}
    positional: list[Any] = []
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument.name is None:
            positional.append(argument.value)
        elif argument.has_value:
            named[argument.name] = argument.value
        elif index + 1 < len(arguments) and arguments[index + 1].name is None:
            named[argument.name] = arguments[index + 1].value
            index += 1
        else:
            named[argument.name] = True
        index += 1
    if len(interp.session.scopes) > MAX_CALL_DEPTH:
        # Python's own stack would give out first; PowerShell answers with this error.
        raise PSRuntimeError(
            ErrorRecord(
                "The script failed due to call depth overflow.",
                exception_type="System.Management.Automation.ScriptCallDepthException",
                category="InvalidOperation",
                error_id="CallDepthOverflow",
            ),
            script_terminating=True,
        )
    interp.session.push_scope({"input": items})
    try:
        return interp.invoke_block(function, arguments=named, positional=positional, new_scope=True)
    finally:
        interp.session.pop_scope()
