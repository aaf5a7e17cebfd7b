"""Comma lists in command arguments: `Select-Object Name,Status`, `Get-Service -Name a, b`.

Windows PowerShell 5.1 reads a comma after a command argument as "the argument goes on": the
elements around it, bare words included, become one array argument, and blanks on either side
of the comma do not matter. A comma with no argument before it (`echo ,a`, `-Name ,a`) is
"Missing argument in parameter list." and one with nothing after it (`a,`, `a,,b`) is
"Missing expression after ','."

tree-sitter-powershell 0.26 reads these lists three ways, none of them an array:

- `a,b` as the word `a`, a MISSING argument separator and the word `,b`;
- `a ,b` as two words, `a` and `,b` (and `a ,$x` as the word `,$x`);
- `a, b`, `a,$x` or `a,@{...}` as an ERROR node.

The parser accepts the first two shapes (`continuation_problem` keeps the rules above) and
rewrites the others before parsing again (`repair`): it moves blanks across a comma, ends a
line that ends in a comma with a line continuation instead (`a,` / `b` -> `a `` / `,b`), or
quotes a plain bare word, all of which PowerShell reads the same way. `continuation_values`
gives the array's further elements.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import tree_sitter

if TYPE_CHECKING:
    from fleetfix.lab.shell.ps.interpreter import Interpreter

Node = tree_sitter.Node

# A bare word that means the same quoted: no expansion, escapes, sub-expressions or numbers.
_PLAIN_WORD = re.compile(r"[A-Za-z_*?\\][A-Za-z0-9_*?\\.:/\-]*")
_BLANKS = b" \t"
_ENDS = (b"", b"\r", b"\n", b")", b"}", b";", b"|", b",")
# Rewriting one comma can reveal the next; scripts with more lists than this stay rejected.
_MAX_REPAIRS = 64
# Elements that cannot be the argument a comma continues.
_NOT_ARGUMENTS = frozenset({"command_parameter", "redirection"})


def starts_with_comma(node: Node) -> bool:
    first = _first_leaf(node)
    return first is not None and (
        first.type == "," or (first.type == "generic_token" and _text(first).startswith(","))
    )


def continuation_problem(node: Node) -> tuple[str, str] | None:
    """For a command element that starts with a comma, why PowerShell rejects it (message and
    error ID), or None when it continues the argument before it."""
    if node.parent is None or node.parent.type != "command_elements":
        return None
    previous = _previous_element(node)
    if previous is None or previous.type in _NOT_ARGUMENTS:
        return "Missing argument in parameter list.", "MissingArgument"
    tail = _text(node)[1:] if node.type == "generic_token" else "x"
    if not tail or tail.startswith(","):
        return "Missing expression after ','.", "MissingExpression"
    if not _tail_is_argument(tail):
        # PowerShell may well read it; this grammar cannot.
        return f"Unexpected token '{tail.split()[0]}' in expression or statement.", (
            "UnexpectedToken"
        )
    return None


def tolerated_missing(node: Node) -> bool:
    """A MISSING separator the grammar put between `a` and `,b`: PowerShell needs none."""
    separator = node.parent
    if separator is None or separator.type != "command_argument_sep":
        return False
    following = separator.next_named_sibling
    return (
        separator.parent is not None
        and separator.parent.type == "command_elements"
        and following is not None
        and starts_with_comma(following)
        and continuation_problem(following) is None
    )


def continuation_values(
    interp: Interpreter, node: Node, element_value: Callable[[Node], Any]
) -> list[Any]:
    """The further elements of the array a comma-led command element continues."""
    from fleetfix.lab.shell.ps.expressions import evaluate, unwrap

    inner = unwrap(node)
    if inner.type == "generic_token":
        return [_tail_value(_text(inner)[1:], element_value)]
    operands = [inner]
    if inner.type == "array_literal_expression":
        operands = [c for c in inner.children if c.is_named]
    first = unwrap(operands[0])
    led = next(c for c in first.children if c.is_named)  # what the leading comma applies to
    return [evaluate(interp, led), *(evaluate(interp, o) for o in operands[1:])]


def repair(
    source: bytes,
    parse: Callable[[bytes], tree_sitter.Tree],
    problem: Callable[[Node], Node | None],
) -> tuple[bytes, tree_sitter.Tree] | None:
    """The source with its comma lists rewritten so the grammar reads them, and its tree; None
    when no rewrite gives a tree without a problem."""
    for _ in range(_MAX_REPAIRS):
        tree = parse(source)
        if problem(tree.root_node) is None:
            return source, tree
        rewritten = _rewrite_one(source, tree.root_node)
        if rewritten is None:
            return None
        source = rewritten
    return None


def dangling_comma(source: bytes, root: Node) -> Node | None:
    """A comma the grammar could not place with nothing after it (`a,`, `a,,b`), which
    PowerShell reports as "Missing expression after ','."."""
    for comma, _, _ in _stray_commas(source, root):
        if _after_blanks(source, comma.end_byte)[:1] in _ENDS:
            return comma
    return None


def _stray_commas(source: bytes, root: Node) -> Iterator[tuple[Node, Node, bool]]:
    """Commas the grammar left out of any list, each with the leaf before it and whether
    only blanks lie between the two."""
    leaves = _solid_leaves(root)
    for before, comma in itertools.pairwise(leaves):
        if comma.type != ",":
            continue
        touching = not source[before.end_byte : comma.start_byte].strip(_BLANKS)
        if _is_error(comma.parent) or (touching and before.type == "generic_token"):
            yield comma, before, touching


def _rewrite_one(source: bytes, root: Node) -> bytes | None:
    for comma, before, touching in _stray_commas(source, root):
        for rewrite in (_blanks_moved, _line_continued):
            rewritten = rewrite(source, comma)
            if rewritten is not None:
                return rewritten
        quoted = _quoted(before) if touching else None
        if quoted is not None:
            start, replacement = quoted
            return source[:start] + replacement + source[before.end_byte :]
    return _tail_unglued(source, root)


def _blanks_moved(source: bytes, comma: Node) -> bytes | None:
    """`a, b` -> `a ,b`, a shape the grammar reads."""
    after = comma.end_byte
    rest = _after_blanks(source, after)
    blanks = len(source) - after - len(rest)
    if not blanks or rest[:1] in _ENDS:
        return None
    return source[: comma.start_byte] + source[after : after + blanks] + b"," + rest


def _line_continued(source: bytes, comma: Node) -> bytes | None:
    """`a,` at the end of a line and `b` on the next -> `a `` then `,b`: the same list with
    a line continuation, which keeps every line where it was."""
    rest = _after_blanks(source, comma.end_byte)
    newline = b"\r\n" if rest.startswith(b"\r\n") else rest[:1]
    if newline not in (b"\n", b"\r\n"):
        return None
    next_line = rest[len(newline) :]
    following = next_line.lstrip(_BLANKS)
    if following[:1] in _ENDS:
        return None
    indent = next_line[: len(next_line) - len(following)]
    blanks = source[comma.end_byte : len(source) - len(rest)]
    head = source[: comma.start_byte] + b" " + blanks + b"`" + newline
    return head + indent + b"," + following


def _tail_unglued(source: bytes, root: Node) -> bytes | None:
    """`a ,@{...}`: the grammar glues the comma to what follows into one word it cannot end;
    `a, @{...}` it reads."""
    for node in _walk(root):
        if node.type != "generic_token" or not _in_arguments(node):
            continue
        text = _text(node)
        tail = text[1:]
        if not text.startswith(",") or not tail or tail.startswith(",") or _tail_is_argument(tail):
            continue
        previous = _previous_element(node)
        gap = source[previous.end_byte : node.start_byte] if previous is not None else b""
        if previous is None or not gap or gap.strip(_BLANKS):
            continue
        return source[: previous.end_byte] + b"," + gap + source[node.start_byte + 1 :]
    return None


def _after_blanks(source: bytes, offset: int) -> bytes:
    return source[offset:].lstrip(_BLANKS)


def _quoted(word: Node) -> tuple[int, bytes] | None:
    """`a,$x` -> `'a',$x`; a chain `a,b,$x` is quoted whole: `'a','b',$x`."""
    chain = [word]
    while _text(chain[0]).startswith(","):
        previous = _previous_element(chain[0])
        if previous is None or previous.end_byte != chain[0].start_byte:
            return None
        chain.insert(0, previous)
    pieces = []
    for node in chain:
        text = _text(node)
        lead = "," if text.startswith(",") else ""
        if node.type != "generic_token" or not _in_arguments(node):
            return None
        if _PLAIN_WORD.fullmatch(text[len(lead) :]) is None:
            return None
        pieces.append(f"{lead}'{text[len(lead) :]}'")
    return chain[0].start_byte, "".join(pieces).encode()


def _tail_is_argument(tail: str) -> bool:
    if _PLAIN_WORD.fullmatch(tail):
        return True
    from fleetfix.lab.shell.ps.parser import raw_tree

    elements = _tail_elements(raw_tree(f"x {tail}".encode()))
    return elements is not None and len(elements) == 1


def _tail_value(tail: str, element_value: Callable[[Node], Any]) -> Any:
    if _PLAIN_WORD.fullmatch(tail):
        return tail
    from fleetfix.lab.shell.ps.parser import raw_tree

    elements = _tail_elements(raw_tree(f"x {tail}".encode())) or []
    (element,) = elements
    if element.type == "command_parameter":
        return _text(element)  # `a,-b`: after a comma, `-b` is a word, not a parameter
    return element_value(element)


def _tail_elements(tree: tree_sitter.Tree) -> list[Node] | None:
    if tree.root_node.has_error:
        return None
    commands = [n for n in _walk(tree.root_node) if n.type == "command"]
    if len(commands) != 1:
        return None
    elements = next((c for c in commands[0].children if c.type == "command_elements"), None)
    if elements is None:
        return None
    return [c for c in elements.children if c.is_named and c.type != "command_argument_sep"]


def _is_error(node: Node | None) -> bool:
    return node is not None and node.type == "ERROR"


def _previous_element(node: Node) -> Node | None:
    sibling = node.prev_named_sibling
    while sibling is not None and sibling.type == "command_argument_sep":
        sibling = sibling.prev_named_sibling
    return sibling


def _first_leaf(node: Node) -> Node | None:
    while node.child_count and node.type != "generic_token":
        first = node.children[0]
        if first is None:
            return None
        node = first
    return node


def _in_arguments(node: Node) -> bool:
    return node.parent is not None and node.parent.type == "command_elements"


def _solid_leaves(root: Node) -> list[Node]:
    """Leaves with text other than blanks, in source order."""
    return [leaf for leaf in _leaves(root) if (leaf.text or b"").strip(_BLANKS)]


def _leaves(node: Node) -> Iterator[Node]:
    if node.child_count == 0 or node.type == "generic_token":
        yield node
        return
    for child in node.children:
        yield from _leaves(child)


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")
