"""Every shipped PowerShell script parses with tree-sitter-powershell, a grammar nobody here
wrote: nothing ships that only the lab understands. Also the rules every script follows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_powershell

from fleetfix.packs import Pack, builtin_packs_dir, load_packs, pack_from_intune
from fleetfix.probe import probe_script

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
PROBE = Path(__file__).resolve().parents[2] / "fleetfix" / "probe" / "probe.ps1"
EXIT_ONLY = re.compile(r"\A(if \(.*\) \{ exit \d+ \}( else \{ exit \d+ \})?|exit \$\w+)\Z")
# PowerShell 7 syntax and parameters that Windows PowerShell 5.1 rejects; the grammar accepts
# some of them, so they are checked by name.
POWERSHELL_7_ONLY = re.compile(
    r"-AsByteStream|-Parallel\b|\s(&&|\|\||\?\?=?)\s|\$\{?\w+\}?\?\.|\?\[|-SkipCertificateCheck"
)
SHIPPED = [*sorted(builtin_packs_dir().rglob("*.ps1")), PROBE]


def syntax_problems(source: str) -> list[str]:
    tree = PARSER.parse(source.encode("utf-8"))
    found: list[str] = []

    def visit(node: tree_sitter.Node) -> None:
        if node.type == "ERROR" or node.is_missing:
            row, column = node.start_point
            found.append(f"{node.type} at line {row + 1}, column {column + 1}")
        for child in node.children:
            visit(child)

    visit(tree.root_node)
    return found


def test_powershell_7_only_syntax_is_caught() -> None:
    for snippet in ("a && b", "$x ?? 1", "$x ??= 1", "${x}?.Name", "gc f -AsByteStream"):
        assert POWERSHELL_7_ONLY.search(snippet), snippet
    assert not POWERSHELL_7_ONLY.search("if ($a -and $b) { $c = $d.Name }")


def test_the_parser_does_report_broken_powershell() -> None:
    assert syntax_problems("if ($x -eq 1) { 'unterminated }")
    assert syntax_problems("foreach ($a in ) {")
    assert not syntax_problems("$x = @{ a = 1 }\n$x | ConvertTo-Json -Compress\n")


def test_every_pack_script_is_shipped_and_found() -> None:
    named = {s.path for p in load_packs().values() for s in p.scripts()}
    assert named <= set(SHIPPED)
    assert len(SHIPPED) >= 17


@pytest.mark.parametrize("script", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_script_parses_as_powershell(script: Path) -> None:
    assert syntax_problems(script.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("script", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_script_reports_with_one_compressed_json_line(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    report = text.rfind("ConvertTo-Json -Compress -Depth 5")
    assert report > 0
    # After the report only exit statements may follow: nothing else may print.
    for line in text[report:].splitlines()[1:]:
        assert not line.strip() or EXIT_ONLY.match(line.strip()), line
    assert not [m.group(0) for m in POWERSHELL_7_ONLY.finditer(text)]
    # Long scripts travel over stdin, where the console code page decides the decoding.
    assert text.isascii()


# A report field `escalate = ...` (in a [pscustomobject]@{} or as `$result.escalate = ...`).
ESCALATE_FIELD = re.compile(r"(?m)^\s*(\$\w+\.)?escalate\s*=")


PACKS = sorted(load_packs().values(), key=lambda p: p.id)


@pytest.mark.parametrize("pack", PACKS, ids=[p.id for p in PACKS])
def test_a_pack_reports_escalate_only_when_it_declares_where_to(pack: Pack) -> None:
    reporting = [s.path.name for s in pack.scripts() if ESCALATE_FIELD.search(s.text)]
    if pack.escalation is None:
        assert reporting == [], f"{pack.id} reports escalate but has no [escalation]"
        return
    # The engine escalates on `reason`: each reason listed must be one a step can report.
    steps = "\n".join(s.script.text for s in pack.steps if s.script is not None)
    assert all(f"'{reason}'" in steps for reason in pack.escalation.on), pack.escalation.on


def test_probe_ships_inside_the_package() -> None:
    assert probe_script() == PROBE.read_text(encoding="utf-8")


def test_intune_wrapper_parses_as_powershell(tmp_path: Path) -> None:
    detect = tmp_path / "Detect-Spooler.ps1"
    detect.write_text("if ((Get-Service Spooler).Status -ne 'Running') { exit 1 }\nexit 0\n")
    remediate = tmp_path / "Fix-Spooler.ps1"
    remediate.write_text("Start-Service Spooler\nWrite-Output 'started'\n")
    pack = pack_from_intune(detect, remediate, pack_id="spooler", output_dir=tmp_path / "out")
    for script in pack.scripts():
        assert syntax_problems(script.text) == []
