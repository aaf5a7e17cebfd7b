"""The recovery engine (`fleetfix run`): waves of hosts through probe, pack and verify, with
retries, breakers, reboots, boot-loop windows and crash-safe resume. It yields typed events
(`events`); front ends observe them and never drive hosts themselves."""

from fleetfix.engine.engine import FINAL_STATES, FleetRun, Resume, find_resumable
from fleetfix.engine.policy import RunPolicy, Share

__all__ = ["FINAL_STATES", "FleetRun", "Resume", "RunPolicy", "Share", "find_resumable"]
