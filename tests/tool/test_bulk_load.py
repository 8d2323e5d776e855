"""The bulk loader: batches, databases, two batches in flight, retries and refusals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytest

from concord_resp.server.resp_client import Connection, ToolError
from concord_resp.tool import bulk_load
from concord_resp.tool.bulk_load import BulkLoader


class FakeConnection:
    """Answers +OK, except to RESTOREs of keys in `refuse` (each refused with its error as
    many times as its count says, -1: always); records what was sent."""

    def __init__(self, refuse: dict[bytes, tuple[str, int]] | None = None) -> None:
        self.refuse = dict(refuse or {})
        self.sent: list[list[tuple[bytes, ...]]] = []
        self.owed: list[object] = []

    def send(self, commands: Sequence[Sequence[bytes]]) -> None:
        self.sent.append([tuple(c) for c in commands])
        for command in commands:
            error, times = self.refuse.get(command[1], ("", 0))
            if command[0] == b"RESTORE" and times:
                self.refuse[command[1]] = (error, times - 1)
                self.owed.append(ToolError(error))
            else:
                self.owed.append("OK")

    def read(self, count: int) -> list[object]:
        replies, self.owed = self.owed[:count], self.owed[count:]
        return replies


def loader_on(connection: FakeConnection) -> tuple[BulkLoader, list[float]]:
    pauses: list[float] = []
    return BulkLoader(cast(Connection, connection), sleep=pauses.append), pauses


def restore(key: bytes, expires_ms: int | None = None) -> tuple[bytes, ...]:
    ttl = b"%d" % expires_ms if expires_ms else b"0"
    return (b"RESTORE", key, ttl, b"p", b"REPLACE", b"ABSTTL")


def test_batches_open_with_their_database_and_two_stay_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bulk_load, "BATCH_COMMANDS", 2)
    connection = FakeConnection()
    loader, _ = loader_on(connection)
    loader.restore(0, b"a", None, b"p")
    loader.restore(0, b"b", 1_700_000_000_000, b"p")  # a full batch: sent
    loader.restore(1, b"c", None, b"p")
    loader.command("FUNCTION", "RESTORE", b"f", label="functions")  # full: sent
    assert loader.keys == 2  # the first batch is read once the second is out
    loader.finish()
    assert loader.keys == 3
    assert connection.owed == []
    assert connection.sent == [
        [(b"SELECT", b"0"), restore(b"a"), restore(b"b", 1_700_000_000_000)],
        [(b"SELECT", b"1"), restore(b"c"), (b"FUNCTION", b"RESTORE", b"f")],
    ]


def test_a_passing_refusal_is_sent_again_after_a_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bulk_load, "BATCH_COMMANDS", 2)
    connection = FakeConnection({b"b": ("CLUSTERDOWN No raft leader", 2)})
    loader, pauses = loader_on(connection)
    for key in (b"a", b"b", b"c", b"d", b"e"):
        loader.restore(3, key, None, b"p")
    loader.finish()
    assert loader.keys == 5
    assert pauses == [0.1, 0.2]
    # The batch in flight ([c, d]) was read before the retries went out (each with its own
    # SELECT), then the last batch.
    retry = [(b"SELECT", b"3"), restore(b"b")]
    assert connection.sent[2:] == [retry, retry, [(b"SELECT", b"3"), restore(b"e")]]


def test_a_refusal_stops_the_load_naming_the_key() -> None:
    connection = FakeConnection({b"bad": ("ERR Bad data format", -1)})
    loader, _ = loader_on(connection)
    loader.restore(0, b"good", None, b"p")
    loader.restore(3, b"bad", None, b"p")
    with pytest.raises(ToolError, match=r"key b'bad' \(database 3\) refused: ERR Bad data"):
        loader.finish()


def test_a_refusal_that_persists_stops_the_load() -> None:
    connection = FakeConnection({b"k": ("TIMEOUT not committed yet", -1)})
    loader, pauses = loader_on(connection)
    loader.restore(0, b"k", None, b"p")
    with pytest.raises(ToolError, match=r"key b'k' .* TIMEOUT not committed yet \(tried 11"):
        loader.finish()
    assert len(pauses) == bulk_load.RETRIES
    assert max(pauses) == bulk_load.LONGEST_PAUSE
