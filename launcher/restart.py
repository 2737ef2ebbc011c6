"""When to restart a process that died, as Kubernetes does for ``restartPolicy: Always``.

Pure bookkeeping, no processes and no clock of its own: the caller passes times in.

- Back-off (CrashLoopBackOff): the n-th exit in a row waits ``initial_delay * 2**(n-1)``
  seconds before the restart, capped at ``max_delay`` (1 s, 2 s, 4 s, 8 s ... 30 s by default;
  Kubernetes starts at 10 s and caps at 5 min, which is too slow for a laptop).
- A run of at least ``healthy_after`` seconds counts as healthy: the exit that ends it starts a
  new streak, so its restart waits ``initial_delay`` again (Kubernetes: 10 min).
- Crash loop: the ``crash_limit``-th exit of one streak within ``crash_window`` seconds means the
  process will not come up by itself; the caller stops the stack instead of restarting it.

Every exit counts, whatever its code: under ``Always`` a process that exits 0 is restarted too.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

__all__ = ["CrashHistory", "RestartPolicy"]


@dataclass(frozen=True)
class RestartPolicy:
    """The numbers of the back-off and of the crash-loop rule; all durations in seconds."""

    initial_delay: float = 1.0
    max_delay: float = 30.0
    healthy_after: float = 60.0
    crash_limit: int = 5
    crash_window: float = 300.0

    def __post_init__(self) -> None:
        if not 0 <= self.initial_delay <= self.max_delay:
            raise ValueError(f"need 0 <= initial delay ({self.initial_delay}) <= max delay "
                             f"({self.max_delay})")
        if self.healthy_after < 0 or self.crash_window <= 0 or self.crash_limit < 1:
            raise ValueError("healthy_after must be >= 0, crash_window > 0, crash_limit >= 1")

    def delay(self, streak: int) -> float:
        """Seconds to wait before the restart after the ``streak``-th exit in a row (from 1)."""
        if streak < 1:
            raise ValueError(f"streak counts from 1, got {streak}")
        # Capped before the power can grow large (a process may crash thousands of times).
        return min(self.initial_delay * 2.0 ** min(streak - 1, 62), self.max_delay)


@dataclass
class CrashHistory:
    """The exits of one process; ``record`` says how long to wait, or None to give up."""

    policy: RestartPolicy
    #: Exits since the last healthy run (the back-off exponent).
    streak: int = 0
    #: Times of this streak's exits within ``crash_window`` of the latest (the crash-loop rule).
    recent: collections.deque[float] = field(default_factory=collections.deque)

    def record(self, started_at: float, died_at: float) -> float | None:
        """Note an exit of a run that began at ``started_at``; the delay before its restart, or
        None when this exit completes a crash loop."""
        if died_at - started_at >= self.policy.healthy_after:
            self.streak = 0
            self.recent.clear()
        self.streak += 1
        self.recent.append(died_at)
        while self.recent and self.recent[0] < died_at - self.policy.crash_window:
            self.recent.popleft()
        if len(self.recent) >= self.policy.crash_limit:
            return None
        return self.policy.delay(self.streak)

    @property
    def in_window(self) -> int:
        """Exits counted toward the crash-loop limit right now."""
        return len(self.recent)
