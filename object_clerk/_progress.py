"""Progress reports for a caller's callback (boto3's Callback convention:
called with the number of bytes transferred since the last call)."""

from __future__ import annotations

import threading
from collections.abc import Callable

ProgressCallback = Callable[[int], object]


class Progress:
    """Counts bytes transferred and reports only growth: bytes sent again
    after a retry, or counted back by s3transfer when it rewinds a body, are
    not reported twice, so the total reported never goes backwards nor
    beyond the bytes really moved."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._lock = threading.Lock()
        self._net = 0
        self._reported = 0

    def restart(self) -> None:
        """A new attempt at the whole transfer begins: its bytes are reported
        once they pass what the earlier attempts reached."""
        with self._lock:
            self._net = 0

    def add(self, amount: int) -> None:
        if self._callback is None or amount == 0:
            return
        with self._lock:
            self._net += amount
            growth = self._net - self._reported
            if growth <= 0:
                return
            self._reported = self._net
        self._callback(growth)
