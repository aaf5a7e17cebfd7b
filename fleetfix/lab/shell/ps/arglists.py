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
line that ends in a comma (and perhaps a comment) with a line continuation instead (`a,` / `b`
-> `a `` / `,b`), or quotes a plain bare word, all of which PowerShell reads the same way.
`continuation_values` gives the array's further elements.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tree_sitter

if TYPE_CHECKING:
    from fleetfix.lab.shell.ps.interpreter import Interpreter

Node = tree_sitter.Node

# A bare word that means the same quoted: no expansion, escapes, sub-expressions or numbers.
_PLAIN_WORD = re.compile(r"[A-Za-z_*?\\][A-Za-z0-9_*?\\.:/\-]*")
_BLANKS = b" \t"
_ENDS = (b"", b"\r", b"\n", b")", b"}", b";", b"|", b",")
# Elements that cannot be the argument a comma continues.
_NOT_ARGUMENTS = frozenset({"command_parameter", "redirection"})


@dataclass(frozen=True, slots=True)
class Edit:
    """`source[start:end]` becomes `text`."""

    start: int
    end: int
    text: bytes


# The edits of one pass over a source, in source order and not overlapping.
Rewrite = tuple[Edit, ...]


@dataclass(frozen=True, slots=True)
class Repaired:
    source: bytes
    tree: tree_sitter.Tree
    # Each pass's edits, first pass first: how to find a place in the script as written.
    rewrites: tuple[Rewrite, ...]


def starts_with_comma(node: Node) -> bool:
    first = _first_leaf(node)
    return first.type == "," or (first.type == "generic_token" and _text(first).startswith(","))


def continuation_problem(node: Node) -> tuple[str, str] | None:
    """For a command element that starts with a comma, why PowerShell rejects it (message and
    error ID), or None when it continues the argument before it."""
    if node.parent is None or node.parent.type != "command_elements":
        return None
    previous = previous_element(node)
    if previous is None or previous.type in _NOT_ARGUMENTS:
        return "Missing argument in parameter list.", "MissingArgument"
    tail = _text(node)[1:] if node.type == "generic_token" else "x"
    if not tail or tail.startswith(","):
        return "Missing expression after ','.", "MissingExpression"
    if _tail_argument(tail) is None:
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


def previous_element(node: Node) -> Node | None:
    """The command element before `node`, separators skipped."""
    sibling = node.prev_named_sibling
    while sibling is not None and sibling.type == "command_argument_sep":
        sibling = sibling.prev_named_sibling
    return sibling


def repair(
    source: bytes,
    tree: tree_sitter.Tree,
    *,
    parse: Callable[[bytes], tree_sitter.Tree],
    problem: Callable[[Node], Node | None],
) -> Repaired | None:
    """The source (whose tree is `tree`) with its comma lists rewritten so the grammar reads
    them; None when no rewrite gives a tree without a problem.

    Each pass rewrites every list of one tree at once. A rewrite can lead back to a source
    already tried (`a, {1}` -> `a ,{1}`, which the grammar reads no better and un-gluing turns
    back): that way is dropped and the next choice tried, so no source is parsed twice."""
    seen: set[bytes] = set()
    ways: list[tuple[bytes, tree_sitter.Tree | None, tuple[Rewrite, ...]]] = [(source, tree, ())]
    while ways:
        text, parsed, rewrites = ways.pop()
        if text in seen:
            continue
        seen.add(text)
        parsed = parsed or parse(text)
        if problem(parsed.root_node) is None:
            return Repaired(text, parsed, rewrites)
        # Best choice last: it is tried first.
        for rewrite in reversed(_rewrites(text, parsed.root_node)):
            ways.append((_applied(text, rewrite), None, (*rewrites, rewrite)))
    return None


def written_offset(offset: int, rewrites: Sequence[Rewrite]) -> int:
    """Where `offset` in a repaired source was in the script as written: a place inside
    inserted or replaced text is where that text went in."""
    for rewrite in reversed(rewrites):
        shift = 0
        for edit in rewrite:
            start = edit.start + shift
            if offset < start:
                break
            if offset < start + len(edit.text):
                offset, shift = edit.start, 0
                break
            shift += len(edit.text) - (edit.end - edit.start)
        offset -= shift
    return offset


def dangling_comma(source: bytes, root: Node) -> Node | None:
    """A comma the grammar could not place with nothing after it (`a,`, `a,,b`), which
    PowerShell reports as "Missing expression after ','."."""
    for comma, _, _ in _stray_commas(source, root):
        if _after_blanks(source, comma.end_byte)[:1] in _ENDS:
            return comma
    return None


def _rewrites(source: bytes, root: Node) -> list[Rewrite]:
    """Whole-source rewrites of one tree, best first: the n-th takes each list's n-th choice
    (or its last, when it has fewer)."""
    sites = _sites(source, root)
    rounds = max((len(choices) for choices in sites), default=0)
    found: list[Rewrite] = []
    for n in range(rounds):
        rewrite = _combined(choices[min(n, len(choices) - 1)] for choices in sites)
        if rewrite and rewrite not in found:
            found.append(rewrite)
    return found


def _sites(source: bytes, root: Node) -> list[list[Rewrite]]:
    """For every list the grammar misreads, the rewrites that may mend it, best first."""
    sites: list[list[Rewrite]] = []
    for comma, before, touching in _stray_commas(source, root):
        spaced = _blanks_moved(source, comma) or _line_continued(source, comma)
        quoted = _quoted(before) if touching else None
        choices = [c for c in (spaced, quoted) if c is not None]
        if choices:
            sites.append(choices)
    sites.extend([unglued] for unglued in _tails_unglued(source, root))
    return sites


def _combined(rewrites: Iterator[Rewrite]) -> Rewrite:
    """The edits of `rewrites` in source order; a rewrite that would touch text another one
    already changes waits for the next pass."""
    taken: list[Edit] = []
    for rewrite in rewrites:
        if not any(_overlap(mine, other) for mine in rewrite for other in taken):
            taken.extend(rewrite)
    return tuple(sorted(taken, key=lambda edit: (edit.start, edit.end)))


def _overlap(a: Edit, b: Edit) -> bool:
    # Two insertions at one place would have no order; so they count as overlapping.
    return a.start == b.start or (a.start < b.end and b.start < a.end)


def _applied(source: bytes, rewrite: Rewrite) -> bytes:
    for edit in reversed(rewrite):  # right to left: earlier offsets stay where they were
        source = source[: edit.start] + edit.text + source[edit.end :]
    return source


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


def _blanks_moved(source: bytes, comma: Node) -> Rewrite | None:
    """`a, b` -> `a ,b`, a shape the grammar reads."""
    after = comma.end_byte
    rest = _after_blanks(source, after)
    blanks = len(source) - after - len(rest)
    if not blanks or rest[:1] in _ENDS or rest[:1] == b"#":
        return None
    return (Edit(comma.start_byte, after + blanks, source[after : after + blanks] + b","),)


def _line_continued(source: bytes, comma: Node) -> Rewrite | None:
    """`a,` at the end of a line (a comment may follow) and `b` on the next -> `a `` then
    `,b`: the same list with a line continuation, which keeps every line where it was. The
    comment turns to blanks, as nothing may follow a continuation."""
    newline_at = source.find(b"\n", comma.end_byte)
    if newline_at < 0:
        return None
    line_end = newline_at - 1 if source[newline_at - 1 : newline_at] == b"\r" else newline_at
    rest = source[comma.end_byte : line_end].lstrip(_BLANKS)
    if rest and not rest.startswith(b"#"):
        return None
    next_line = newline_at + 1
    following = next_line + len(source[next_line:]) - len(source[next_line:].lstrip(_BLANKS))
    if source[following : following + 1] in _ENDS:
        return None
    comment = line_end - len(rest)
    return (
        Edit(comma.start_byte, comma.end_byte, b" "),
        *([Edit(comment, line_end, b" " * len(rest))] if rest else []),
        Edit(line_end, line_end, b"`"),
        Edit(following, following, b","),
    )


def _tails_unglued(source: bytes, root: Node) -> Iterator[Rewrite]:
    """`a ,@{...}`: the grammar glues the comma to what follows into one word it cannot end;
    `a, @{...}` it reads."""
    for node in _walk(root):
        if node.type != "generic_token" or not _in_arguments(node):
            continue
        text = _text(node)
        tail = text[1:]
        if not text.startswith(",") or not tail or tail.startswith(","):
            continue
        previous = previous_element(node)
        if previous is None or _tail_argument(tail) is not None:
            continue
        gap = source[previous.end_byte : node.start_byte]
        if gap and not gap.strip(_BLANKS):
            yield (Edit(previous.end_byte, node.start_byte + 1, b"," + gap),)


def _after_blanks(source: bytes, offset: int) -> bytes:
    return source[offset:].lstrip(_BLANKS)


def _quoted(word: Node) -> Rewrite | None:
    """`a,$x` -> `'a',$x`; a chain `a,b,$x` is quoted whole: `'a','b',$x`."""
    chain = [word]
    while _text(chain[0]).startswith(","):
        previous = previous_element(chain[0])
        if previous is None or previous.end_byte != chain[0].start_byte:
            return None
        chain.insert(0, previous)
    edits: list[Edit] = []
    for node in chain:
        text = _text(node)
        lead = 1 if text.startswith(",") else 0
        if node.type != "generic_token" or not _in_arguments(node):
            return None
        if _PLAIN_WORD.fullmatch(text[lead:]) is None:
            return None
        start = node.start_byte + lead
        edits += [Edit(start, start, b"'"), Edit(node.end_byte, node.end_byte, b"'")]
    return tuple(edits)


@functools.lru_cache(maxsize=256)
def _tail_argument(tail: str) -> str | Node | None:
    """What the text after a comma is as one command argument: a plain word as it is, else
    the element the grammar reads it as; None when it is not one argument."""
    if _PLAIN_WORD.fullmatch(tail):
        return tail
    from fleetfix.lab.shell.ps.parser import raw_tree

    tree = raw_tree(f"x {tail}".encode())
    if tree.root_node.has_error:
        return None
    commands = [n for n in _walk(tree.root_node) if n.type == "command"]
    if len(commands) != 1:
        return None
    elements = next((c for c in commands[0].children if c.type == "command_elements"), None)
    if elements is None:
        return None
    found = [c for c in elements.children if c.is_named and c.type != "command_argument_sep"]
    return found[0] if len(found) == 1 else None


def _tail_value(tail: str, element_value: Callable[[Node], Any]) -> Any:
    element = _tail_argument(tail)
    assert element is not None, tail  # the parser let only arguments through
    if isinstance(element, str):
        return element
    if element.type == "command_parameter":
        return _text(element)  # `a,-b`: after a comma, `-b` is a word, not a parameter
    return element_value(element)


def _is_error(node: Node | None) -> bool:
    return node is not None and node.type == "ERROR"


def _first_leaf(node: Node) -> Node:
    while node.child_count and node.type != "generic_token":
        node = node.children[0]
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
