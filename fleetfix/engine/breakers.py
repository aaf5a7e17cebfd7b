"""The two breakers that stop a run from making an incident worse.

- Authentication: a credential rejected by `limit` hosts stops new work before the domain
  account behind it gets locked out (AD's lockout threshold counts failures across hosts).
- Failures: `--max-fail-percent P` trips when the hosts that failed in a wave exceed P% of that
  wave (exactly P% does not trip). The canary wave is a wave, so a bad pack stops there.

A tripped breaker stays tripped for the rest of the run: no new host starts, and the hosts
already in flight finish and are recorded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Breakers:
    auth_limit: int
    max_fail_percent: float | None
    tripped: str | None = None
    reason: str = ""
    _auth_failures: Counter[str] = field(default_factory=Counter)
    _wave_size: int = 0
    _wave_failed: int = 0

    def start_wave(self, size: int) -> None:
        self._wave_size, self._wave_failed = size, 0

    def auth_failed(self, credential: str) -> bool:
        """Count one host rejecting `credential`; True when this trips the breaker."""
        self._auth_failures[credential] += 1
        count = self._auth_failures[credential]
        if self.tripped is None and count >= self.auth_limit:
            which = "the default credential" if not credential else f"credential {credential!r}"
            self._trip(
                "auth",
                f"{which} was rejected by {count} hosts: new work paused before the account "
                "is locked out; check the password and resume",
            )
            return True
        return False

    def host_failed(self) -> bool:
        """Count one failed host in the current wave; True when this trips the breaker."""
        self._wave_failed += 1
        if self.tripped is not None or self.max_fail_percent is None or self._wave_size == 0:
            return False
        share = 100.0 * self._wave_failed / self._wave_size
        if share > self.max_fail_percent:
            self._trip(
                "failures",
                f"{self._wave_failed} of {self._wave_size} hosts in this wave failed "
                f"({share:.1f}% > {self.max_fail_percent:g}%): no new host starts",
            )
            return True
        return False

    def _trip(self, breaker: str, reason: str) -> None:
        self.tripped, self.reason = breaker, reason
