"""A pack script travels to the host alone, so a judgment several scripts make is copied into
each of them. The copies must stay the same: a fix made to one copy and missed in another is
how detect and remediate come to disagree about the same file. Compared without comments or
layout, token for token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_powershell

from fleetfix.packs import builtin_packs_dir

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
PACKS = builtin_packs_dir()
CHANNEL_291 = [
    *(PACKS / "crowdstrike-291" / name for name in ("detect.ps1", "remediate.ps1", "verify.ps1")),
    *(PACKS / "safe-mode-cycle" / name for name in ("detect.ps1", "verify.ps1")),
]
BITLOCKER = [PACKS / "bitlocker-protectors" / n for n in ("backup.ps1", "detect.ps1", "verify.ps1")]
CHANNEL_FILES = "-Filter 'C-00000291*.sys'"


def _nodes(node: tree_sitter.Node, kind: str) -> list[tree_sitter.Node]:
    found = [node] if node.type == kind else []
    for child in node.children:
        found += _nodes(child, kind)
    return found


def _without_comments(source: bytes, node: tree_sitter.Node) -> str:
    """`node`'s text with its comments cut out and all layout reduced to single spaces."""
    text, at = b"", node.start_byte
    for comment in _nodes(node, "comment"):
        text, at = text + source[at : comment.start_byte], comment.end_byte
    return " ".join((text + source[at : node.end_byte]).decode("utf-8").split())


def function(name: str) -> Callable[[bytes, tree_sitter.Node], str]:
    def extract(source: bytes, root: tree_sitter.Node) -> str:
        for statement in _nodes(root, "function_statement"):
            named = _nodes(statement, "function_name")
            if named and source[named[0].start_byte : named[0].end_byte].decode() == name:
                return _without_comments(source, statement)
        return ""

    return extract


def channel_file_selection(source: bytes, root: tree_sitter.Node) -> str:
    """The loop over the channel 291 files, from its head up to the judgment of a file (what
    is done with a bad file differs between scripts, and may)."""
    for loop in _nodes(root, "foreach_statement"):
        text = _without_comments(source, loop)
        if CHANNEL_FILES in text.split("{", 1)[0]:
            return text[: text.index("{", text.index("Test-BadTime")) + 1]
    return ""


COPIES = [
    ("Test-BadTime", CHANNEL_291, function("Test-BadTime")),
    ("Get-Header", CHANNEL_291, function("Get-Header")),
    ("channel file selection", CHANNEL_291, channel_file_selection),
    ("ConvertTo-KeyId", BITLOCKER, function("ConvertTo-KeyId")),
]


def _copies(scripts: list[Path], extract: Callable[[bytes, tree_sitter.Node], str]) -> list[str]:
    sources = [script.read_bytes() for script in scripts]
    return [extract(source, PARSER.parse(source).root_node) for source in sources]


def _shown(script: Path) -> str:
    return f"{script.parent.name}/{script.name}"


@pytest.mark.parametrize(("name", "scripts", "extract"), COPIES, ids=[c[0] for c in COPIES])
def test_every_copy_of_a_shared_judgment_is_the_same(
    name: str, scripts: list[Path], extract: Callable[[bytes, tree_sitter.Node], str]
) -> None:
    copies = _copies(scripts, extract)
    missing = [_shown(s) for s, copy in zip(scripts, copies, strict=True) if not copy]
    assert not missing, f"{name} not found in {missing}"
    differ = [_shown(s) for s, copy in zip(scripts, copies, strict=True) if copy != copies[0]]
    assert not differ, f"{name} in {differ} differs from {_shown(scripts[0])}"


def test_every_channel_file_loop_rechecks_the_folder_and_the_long_name() -> None:
    for script, selection in zip(CHANNEL_291, _copies(CHANNEL_291, channel_file_selection),
                                 strict=True):  # fmt: skip
        assert "if ($file.DirectoryName -ne $folder) { continue }" in selection, _shown(script)
        assert "if ($file.Name -notlike 'C-00000291*.sys') { continue }" in selection, _shown(
            script
        )


def test_comments_and_layout_do_not_count_but_code_does() -> None:
    def selection(text: str) -> str:
        source = text.encode()
        return channel_file_selection(source, PARSER.parse(source).root_node)

    loop = (
        "foreach ($file in @(Get-ChildItem -LiteralPath $folder {0} -File)) {{\n"
        "    {1}\n"
        "    if ((Test-BadTime $file.LastWriteTimeUtc) -and $x) {{ $bad += $file }}\n}}\n"
    )
    plain = selection(loop.format(CHANNEL_FILES, "if ($a) { continue }"))
    assert plain == selection(loop.format(CHANNEL_FILES, "# why\n  if ($a)  { continue }"))
    assert plain != selection(loop.format(CHANNEL_FILES, "if ($b) { continue }"))
    assert plain.endswith("-and $x) {") and "$bad" not in plain
