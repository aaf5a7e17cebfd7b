"""The core must be usable without the TUI toolkit: a jump host may not even have it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_PROBE = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    import fleetfix

    imported = []
    for module in pkgutil.walk_packages(fleetfix.__path__, prefix="fleetfix."):
        if module.name.startswith("fleetfix.tui"):
            continue
        importlib.import_module(module.name)
        imported.append(module.name)
    leaked = sorted(n for n in sys.modules if n == "textual" or n.startswith("textual."))
    print(len(imported))
    print(",".join(leaked))
    """
)


def test_importing_every_core_module_loads_no_textual_module() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=False, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    count_line, leaked_line = completed.stdout.splitlines()[-2:]
    # The walk must really have imported the core, or the check proves nothing.
    assert int(count_line) >= 5
    assert leaked_line == "", f"core modules imported textual: {leaked_line}"


_TUI_PROBE = "import fleetfix.tui, importlib.util as u; print(u.find_spec('tui'))"


def test_tui_installs_under_the_fleetfix_namespace() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _TUI_PROBE],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd="/",
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "None"
