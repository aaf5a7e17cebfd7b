"""The lab's WS-Management server: WinRS cmd shells and PowerShell Remoting on 5985/5986."""

from fleetfix.lab.wsman.server import start_wsman_server, stop_wsman_server

__all__ = ["start_wsman_server", "stop_wsman_server"]
