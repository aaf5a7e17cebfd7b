"""The simulated Windows fleet: real WinRM, PSRP and SSH servers on loopback addresses.

The protocol servers (wsman/, ssh) only talk to hosts through the protocol in `api.py`, so
the host model and the command interpreter can grow without touching the servers.
"""
