"""The progress bar: drawn on a terminal only, at most ten times a second."""

from __future__ import annotations

import io

from concord_resp.tool.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress("importing dump.rdb", 1000, stream=stream)
    progress.update(500, 10)
    progress.finish()
    assert stream.getvalue() == ""


def test_a_terminal_sees_the_share_done_and_a_last_line() -> None:
    stream = Terminal()
    progress = Progress("importing dump.rdb", 2 << 20, stream=stream)
    progress.update(1 << 20, 7)
    progress.update((1 << 20) + 1, 8)  # within the redraw interval: not drawn
    progress.finish()
    lines = stream.getvalue().split("\r")[1:]
    assert len(lines) == 2
    assert lines[0].startswith("importing dump.rdb [###############...............]  50%")
    assert "1.0 MB / 2.0 MB" in lines[0]
    assert "7 keys" in lines[0]
    assert "8 keys" in lines[1]
    assert stream.getvalue().endswith("\n")


def test_counting_keys() -> None:
    stream = Terminal()
    progress = Progress("restoring", 4, stream=stream, in_keys=True)
    progress.update(4, 4)
    progress.finish()
    assert "100%  4 / 4 keys" in stream.getvalue()
