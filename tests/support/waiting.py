"""Waiting for a state the code under test announces with no event: poll it, bounded.

trio's rule (ruff ASYNC110) is to wait on an event rather than sleep in a loop, and the
code does so; tests, though, often wait for a fact (a node applied an index, a learner was
promoted) that nothing signals. `wait_until` is the one polling loop they use: it checks
the condition every `interval` seconds and fails the test after `within` seconds (trio
time, so a mock clock makes it instant).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio


async def wait_until(
    condition: Callable[[], object], *, within: float = 10.0, interval: float = 0.005
) -> None:
    with trio.fail_after(within):
        while not condition():  # noqa: ASYNC110  (nothing to wait on but the fact)
            await trio.sleep(interval)


async def wait_until_async(
    condition: Callable[[], Awaitable[object]], *, within: float = 10.0, interval: float = 0.01
) -> None:
    """`wait_until` for a condition that must await to be checked (a request to the leader)."""
    with trio.fail_after(within):
        while not await condition():  # noqa: ASYNC110  (nothing to wait on but the fact)
            await trio.sleep(interval)
