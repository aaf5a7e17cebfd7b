"""The TUI's names for the tests, under the one module name that exists at run time.

setup.py installs tui/ as `fleetfix.tui`; mypy checks the folder as the package `tui` (it cannot
follow the install-time mapping). Importing `tui.*` at run time would load a second copy of
every module, so the real import is `fleetfix.tui.*` and mypy reads the same files as `tui.*`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.app import FIXED_BY_HAND, FleetfixApp
    from tui.counters import counts_text
    from tui.detail import HostDetailScreen
    from tui.dialogs import ConfirmScreen, RunScreen
    from tui.fleet import FleetModel, HostFilter, StoreFollower
    from tui.handson import HandsOnScreen
    from tui.keys import HIDDEN, KeyLookupScreen
    from tui.table import HostTable
    from tui.text import clean
    from tui.work import FleetAccess
else:
    from fleetfix.tui.app import FIXED_BY_HAND, FleetfixApp
    from fleetfix.tui.counters import counts_text
    from fleetfix.tui.detail import HostDetailScreen
    from fleetfix.tui.dialogs import ConfirmScreen, RunScreen
    from fleetfix.tui.fleet import FleetModel, HostFilter, StoreFollower
    from fleetfix.tui.handson import HandsOnScreen
    from fleetfix.tui.keys import HIDDEN, KeyLookupScreen
    from fleetfix.tui.table import HostTable
    from fleetfix.tui.text import clean
    from fleetfix.tui.work import FleetAccess

__all__ = [
    "FIXED_BY_HAND",
    "HIDDEN",
    "ConfirmScreen",
    "FleetAccess",
    "FleetModel",
    "FleetfixApp",
    "HandsOnScreen",
    "HostDetailScreen",
    "HostFilter",
    "HostTable",
    "KeyLookupScreen",
    "RunScreen",
    "StoreFollower",
    "clean",
    "counts_text",
]
