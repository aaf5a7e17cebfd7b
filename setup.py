"""Package layout that pyproject.toml alone cannot express.

`tui/` and `remediations/` sit at the top of the repository for readers, but install under the
`fleetfix` namespace, so nothing generic like `tui` lands in a user's site-packages.
"""

from setuptools import find_packages, setup

core = find_packages(include=["fleetfix", "fleetfix.*"])
tui = ["fleetfix.tui", *(f"fleetfix.tui.{name}" for name in find_packages("tui"))]

setup(
    packages=[*core, *tui, "fleetfix.remediations"],
    package_dir={
        "fleetfix": "fleetfix",
        "fleetfix.tui": "tui",
        "fleetfix.remediations": "remediations",
    },
)
