"""PowerShell's operators: arithmetic, comparison (scalar and collection-filtering), -like,
-match, -replace, -split, -join, -f, -contains, -in, -is. The left operand decides."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from fleetfix.lab.machine.files import wildcard_match
from fleetfix.lab.shell.ps.formatting_net import net_format
from fleetfix.lab.shell.ps.values import (
    Hashtable,
    compare_key,
    equals,
    iterate,
    plain_date,
    runtime_error,
    to_number,
    to_str,
)


def add(left: Any, right: Any) -> Any:
    if isinstance(left, datetime):
        left = plain_date(left)
    if left is None:
        return right
    if isinstance(left, str):
        return left + to_str(right)
    if isinstance(left, list | tuple):
        return [*left, *(right if isinstance(right, list | tuple) else [right])]
    if isinstance(left, Hashtable) and isinstance(right, Hashtable):
        merged = Hashtable(dict(left.items()))
        for key, value in right.items():
            if key in merged:
                raise runtime_error(
                    f"Item has already been added. Key in dictionary: '{key}'  Key being added: "
                    f"'{key}'",
                    error_id="System.ArgumentException",
                )
            merged[key] = value
        return merged
    if isinstance(left, datetime):
        if isinstance(right, timedelta):
            return left + right
        return left + timedelta(microseconds=to_number(right) / 10)
    return _numeric(left, right, lambda a, b: a + b)


def subtract(left: Any, right: Any) -> Any:
    left = plain_date(left) if isinstance(left, datetime) else left
    if isinstance(left, datetime) and isinstance(right, datetime):
        return left - right
    if isinstance(left, datetime) and isinstance(right, timedelta):
        return left - right
    return _numeric(left, right, lambda a, b: a - b)


def multiply(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        return left * int(to_number(right))
    if isinstance(left, list | tuple):
        return list(left) * int(to_number(right))
    return _numeric(left, right, lambda a, b: a * b)


def divide(left: Any, right: Any) -> Any:
    divisor = to_number(right)
    if divisor == 0:
        raise runtime_error("Attempted to divide by zero.", error_id="RuntimeException")
    quotient = to_number(left) / divisor
    return int(quotient) if quotient == int(quotient) else quotient


def modulo(left: Any, right: Any) -> Any:
    divisor = to_number(right)
    if divisor == 0:
        raise runtime_error("Attempted to divide by zero.", error_id="RuntimeException")
    dividend = to_number(left)
    # .NET's % keeps the sign of the dividend, unlike Python's.
    result = abs(dividend) % abs(divisor)
    return -result if dividend < 0 else result


def _numeric(left: Any, right: Any, op: Callable[[Any, Any], Any]) -> Any:
    result = op(to_number(left), to_number(right))
    if (
        isinstance(result, float)
        and result == int(result)
        and not (isinstance(left, float) or isinstance(right, float))
    ):
        return int(result)
    return result


ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": add,
    "-": subtract,
    "*": multiply,
    "/": divide,
    "%": modulo,
    "-band": lambda a, b: int(to_number(a)) & int(to_number(b)),
    "-bor": lambda a, b: int(to_number(a)) | int(to_number(b)),
    "-bxor": lambda a, b: int(to_number(a)) ^ int(to_number(b)),
}


def _like(left: Any, right: Any) -> bool:
    return wildcard_match(to_str(left), to_str(right))


def _match(left: Any, right: Any, *, flags: int) -> bool:
    return re.search(to_str(right), to_str(left), flags) is not None


def _scalar_comparisons(case_sensitive: bool) -> dict[str, Callable[[Any, Any], bool]]:
    flags = 0 if case_sensitive else re.IGNORECASE

    def ordered(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
        def compare(left: Any, right: Any) -> bool:
            a, b = compare_key(left, right)
            return test(a, b)

        return compare

    def eq(left: Any, right: Any) -> bool:
        if case_sensitive and isinstance(left, str):
            return left == to_str(right)
        return equals(left, right)

    return {
        "eq": eq,
        "ne": lambda a, b: not eq(a, b),
        "gt": ordered(lambda a, b: a > b),
        "ge": ordered(lambda a, b: a >= b),
        "lt": ordered(lambda a, b: a < b),
        "le": ordered(lambda a, b: a <= b),
        "like": _like,
        "notlike": lambda a, b: not _like(a, b),
        "match": lambda a, b: _match(a, b, flags=flags),
        "notmatch": lambda a, b: not _match(a, b, flags=flags),
    }


def compare(operator: str, left: Any, right: Any) -> Any:
    """Applies a comparison operator such as `-eq`, `-ceq`, `-like`, `-contains`."""
    name = operator.lower().removeprefix("-")
    case_sensitive = name.startswith("c") and name[1:] in _OPERATOR_NAMES
    if name[:1] in ("c", "i") and name[1:] in _OPERATOR_NAMES:
        name = name[1:]
    special = _SPECIAL.get(name)
    if special is not None:
        return special(left, right)
    test = _scalar_comparisons(case_sensitive).get(name)
    if test is None:
        raise runtime_error(f"The operator '{operator}' is not supported by the lab.")
    if isinstance(left, list | tuple):
        # With a collection on the left, comparisons filter it.
        return [item for item in left if test(item, right)]
    return test(left, right)


def _contains(collection: Any, item: Any) -> bool:
    return any(equals(element, item) for element in iterate(collection))


def _replace(left: Any, right: Any) -> Any:
    parts = list(right) if isinstance(right, list | tuple) else [right]
    pattern = to_str(parts[0])
    replacement = to_str(parts[1]) if len(parts) > 1 else ""
    replacement = re.sub(r"\$(\d+)", r"\\\1", replacement)
    if isinstance(left, list | tuple):
        return [re.sub(pattern, replacement, to_str(x), flags=re.IGNORECASE) for x in left]
    return re.sub(pattern, replacement, to_str(left), flags=re.IGNORECASE)


def split(left: Any, right: Any) -> list[str]:
    pattern = to_str(right)
    return [
        piece
        for item in (left if isinstance(left, list | tuple) else [left])
        for piece in re.split(pattern, to_str(item), flags=re.IGNORECASE)
    ]


def join(left: Any, right: Any) -> str:
    return to_str(right).join(to_str(item) for item in iterate(left))


def format_operator(left: Any, right: Any) -> str:
    arguments = list(right) if isinstance(right, list | tuple) else [right]
    return net_format(to_str(left), arguments)


_SPECIAL: dict[str, Callable[[Any, Any], Any]] = {
    "contains": _contains,
    "notcontains": lambda a, b: not _contains(a, b),
    "in": lambda a, b: _contains(b, a),
    "notin": lambda a, b: not _contains(b, a),
    "replace": _replace,
    "split": split,
    "join": join,
}
_OPERATOR_NAMES = {
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "like",
    "notlike",
    "match",
    "notmatch",
    "contains",
    "notcontains",
    "in",
    "notin",
    "replace",
    "split",
}
