"""Host lists in: plain text, CSV (CMDB, Excel and EDR exports), Ansible INI and YAML.

inventory = load_inventory("hosts.csv", skip_invalid=True)
for problem in inventory.rejected: print(problem)   # "hosts.csv:12: ..."
"""

from fleetfix.inventory.loader import FORMATS, load_inventory
from fleetfix.inventory.model import Inventory, Problem
from fleetfix.inventory.source import MAX_INVENTORY_BYTES

__all__ = ["FORMATS", "MAX_INVENTORY_BYTES", "Inventory", "Problem", "load_inventory"]
