"""Progress of a long stage, reported often enough to watch and seldom enough not to matter.

A stage calls `advance()` per item; the meter passes the count on (to a database row, a command's
output) when `every` items or `seconds` have gone by since it last did, and once more at
`flush()`. Call it from one thread: the stages call it as the thread pool's results come back.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ProgressMeter:
    def __init__(
        self,
        report: Callable[[int], None],
        *,
        every: int,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.done = 0
        self.reported = 0
        self.every = max(1, every)
        self.seconds = seconds
        self._report = report
        self._clock = clock
        self._at = clock()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.done - self.reported >= self.every or self._clock() - self._at >= self.seconds:
            self.flush()

    def flush(self) -> None:
        if self.done != self.reported:
            self.reported = self.done
            self._at = self._clock()
            self._report(self.done)
