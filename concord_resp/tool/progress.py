"""A one-line progress bar on stderr, for a terminal only (quiet when stderr is not one).

Redrawn at most ten times a second, so a caller may report every item it handles.
"""

from __future__ import annotations

import sys
import time
from typing import Final, TextIO

REDRAW_INTERVAL: Final = 0.1
WIDTH: Final = 30


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class Progress:
    """`update(done, items)` as work advances (`done` of `total` bytes), `finish()` once."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None = None,
        show: bool | None = None,
        in_keys: bool = False,
    ) -> None:
        self.label = label
        self.in_keys = in_keys  # `done` and `total` count keys, not bytes
        self.total = max(total, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.show = self.stream.isatty() if show is None else show
        self.started = time.monotonic()
        self._drawn = 0.0
        self.done = 0
        self.items = 0

    def update(self, done: int, items: int) -> None:
        self.done, self.items = done, items
        now = time.monotonic()
        if self.show and now - self._drawn >= REDRAW_INTERVAL:
            self._drawn = now
            self._draw(now)

    def finish(self) -> None:
        if self.show:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        share = min(self.done / self.total, 1.0)
        filled = int(share * WIDTH)
        rate = self.done / max(now - self.started, 1e-6)
        bar = "#" * filled + "." * (WIDTH - filled)
        if self.in_keys:
            amounts = f"{self.done} / {self.total} keys  {rate:.0f} keys/s"
        else:
            amounts = f"{_size(self.done)} / {_size(self.total)}  {_size(rate)}/s"
            amounts += f"  {self.items} keys" if self.items else ""
        self.stream.write(f"\r{self.label} [{bar}] {share:4.0%}  {amounts} ")
        self.stream.flush()
