"""Turning an Intune Remediations script pair into a fleetfix pack.

Intune scripts report by exit code (detect: 1 = needs remediation) and free text, and may call
`exit` anywhere. So each one runs unchanged in a child `powershell.exe`, and a fixed wrapper
reports its exit code and output as the one JSON line fleetfix reads. The original text sits
in the wrapper as a single-quoted here-string, where PowerShell expands nothing, so the pack
stays readable and the script is exactly what the team ran in Intune.
"""

from __future__ import annotations

import re
from pathlib import Path

from fleetfix.packs.loader import MANIFEST, load_pack
from fleetfix.packs.model import Pack, PackError

# A child powershell.exe takes the script as -EncodedCommand (UTF-16LE, base64) on a command
# line of at most 32,767 characters: about 12,000 characters of script.
MAX_SCRIPT_CHARS = 12_000
_HERE_STRING_END = re.compile(r"^'@", re.MULTILINE)

_WRAPPER = """\
# fleetfix wrapper around the Intune Remediations {role} script {source}.
# The original runs unchanged in a child powershell.exe; its exit code is this script's.
$intuneScript = @'
{body}
'@
# Native stderr under 'Stop' would end this wrapper before it can report.
$ErrorActionPreference = 'Continue'
$encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($intuneScript))
$lines = powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass `
    -EncodedCommand $encoded 2>&1
$code = $LASTEXITCODE
$text = ($lines | ForEach-Object {{ "$_" }}) -join "`n"
$result = [pscustomobject]@{{
    intune = $true
    role = '{role}'
    exit_code = $code
    ok = ($code -eq 0)
    output = $text
}}
$result | ConvertTo-Json -Compress -Depth 5
exit $code
"""

_MANIFEST = """\
# Made by `fleetfix packs from-intune` from {detect} and {remediate}.
id = "{id}"
title = "{title}"
version = "1.0.0"
description = \"\"\"
Intune Remediations pair {detect} / {remediate}, run unchanged.
Detect exits 1 when remediation is needed, 0 when compliant.
\"\"\"

[detect]
script = "detect.ps1"
timeout = 300

[[steps]]
name = "remediate"
script = "remediate.ps1"
# Intune scripts declare nothing about what they change: assume the worst.
destructive = true
idempotent = false
reboots = false
timeout = 900
retries = 0

[verify]
script = "detect.ps1"
timeout = 300
"""


def pack_from_intune(
    detect: Path, remediate: Path, *, pack_id: str, output_dir: Path, title: str | None = None
) -> Pack:
    """Writes `output_dir/pack_id/` (manifest and wrapped scripts) and loads it back, so what
    is written is a pack the loader accepts. Refuses to overwrite an existing folder."""
    folder = output_dir / pack_id
    if folder.exists():
        raise PackError("already exists; choose another --id or -o", file=folder)
    scripts = {
        "detect.ps1": _wrap(detect, role="detect"),
        "remediate.ps1": _wrap(remediate, role="remediate"),
    }
    manifest = _MANIFEST.format(
        id=pack_id,
        title=_toml_text(title or f"Intune remediation {pack_id}"),
        detect=_toml_text(detect.name),
        remediate=_toml_text(remediate.name),
    )
    folder.mkdir(parents=True)
    for name, text in scripts.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / MANIFEST).write_text(manifest, encoding="utf-8")
    return load_pack(folder)


def _wrap(source: Path, *, role: str) -> str:
    try:
        body = source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError(f"cannot read the {role} script: {exc}", file=source) from None
    body = body.replace("\r\n", "\n").rstrip("\n")
    if _HERE_STRING_END.search(body):
        raise PackError(
            "a line starts with '@, which would end the here-string that carries it",
            file=source,
        )
    if len(body) > MAX_SCRIPT_CHARS:
        raise PackError(f"longer than {MAX_SCRIPT_CHARS} characters", file=source)
    return _WRAPPER.format(role=role, source=_comment_text(source.name), body=body)


def _toml_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _comment_text(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ")
