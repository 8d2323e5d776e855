"""An in-process server for tests: the real dispatcher, node and log, with a hand-set clock.

`InProcess` builds `concord_resp.server.app.Server` (no socket is opened) and drives
`Dispatcher.run_batch` directly, so tests run commands exactly as connections do. Both clock
sources are replaced by `now_ms`: `RaftNode.clock_us` stamps writes, `Dispatcher.now_us`
times WATCH and local transactions. Active expiry never fires on its own (the loop's interval
is an hour); `expire_now` runs one cycle of it deterministically.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from concord_resp.cluster import Proposal
from concord_resp.config import Config
from concord_resp.resp import split_args
from concord_resp.server.app import Server
from concord_resp.server.client import ClientState
from concord_resp.state import OP_EXPIRE

START_MS = 1_700_000_000_000


class InProcess:
    def __init__(self, data_dir: Path) -> None:
        self.server = Server(Config(dir=data_dir, port=0, fsync="never"))
        self.state = self.server.state
        self.dispatcher = self.server.dispatcher
        self.now_ms = START_MS
        self.server.node.clock_us = lambda: self.now_ms * 1000
        self.dispatcher.now_us = lambda: self.now_ms * 1000  # type: ignore[method-assign]
        self.server.node.expiry.interval = 3600.0

    def client(self) -> ClientState:
        clients = self.state.clients
        number = clients.next_id()
        client = ClientState(
            id=number, addr=f"127.0.0.1:{40000 + number}", laddr="127.0.0.1:6379", fd=number
        )
        clients.add(client)
        return client

    async def run(self, client: ClientState, *lines: str) -> list[bytes]:
        """Run the lines (redis-cli syntax) as one pipelined batch; the encoded replies."""
        commands = []
        for line in lines:
            argv = split_args(line.encode())
            assert argv is not None, line
            commands.append(argv)
        return await self.dispatcher.run_batch(client, commands)

    async def one(self, client: ClientState, line: str) -> bytes:
        (reply,) = await self.run(client, line)
        return reply

    async def expire_now(self, db: int = 0) -> None:
        """One active-expiry cycle at the current time, as the node's expire loop runs it."""
        keys = self.server.machine.keyspace.dbs[db].expired_keys(self.now_ms, 1000)
        proposal = Proposal(OP_EXPIRE, db, keys)
        self.server.node.submit(proposal)
        await proposal.wait()


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[InProcess]:
    harness = InProcess(tmp_path / "data")
    await harness.server.node.load()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(harness.server.node.run)
        yield harness
        nursery.cancel_scope.cancel()
    harness.server.node.close()
    os.close(harness.server.lock_fd)
