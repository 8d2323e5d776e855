"""The bulk loader: batches, databases, two batches in flight, and the first refusal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytest

from concord_resp.server.resp_client import Connection, ToolError
from concord_resp.tool import bulk_load
from concord_resp.tool.bulk_load import BulkLoader


class FakeConnection:
    """Answers +OK to everything but RESTOREs of the keys in `refuse`; records the wire."""

    def __init__(self, refuse: frozenset[bytes] = frozenset()) -> None:
        self.refuse = refuse
        self.sent: list[list[tuple[bytes, ...]]] = []
        self.owed: list[object] = []

    def send(self, commands: Sequence[Sequence[bytes]]) -> None:
        self.sent.append([tuple(c) for c in commands])
        for command in commands:
            refused = command[0] == b"RESTORE" and command[1] in self.refuse
            self.owed.append(ToolError("ERR bad payload") if refused else "OK")

    def read(self, count: int) -> list[object]:
        replies, self.owed = self.owed[:count], self.owed[count:]
        return replies


def loader_on(connection: FakeConnection) -> BulkLoader:
    return BulkLoader(cast(Connection, connection))


def test_batches_keep_two_in_flight_and_select_databases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bulk_load, "BATCH_COMMANDS", 2)
    connection = FakeConnection()
    loader = loader_on(connection)
    loader.restore(0, b"a", None, b"p")
    loader.restore(0, b"b", 1_700_000_000_000, b"p")  # a full batch: sent
    loader.restore(1, b"c", None, b"p")  # SELECT 1 and RESTORE c: sent
    assert len(connection.sent) == 2
    assert loader.keys == 2  # the first batch is checked once the second is out
    loader.finish()
    assert loader.keys == 3
    assert connection.owed == []
    assert connection.sent[0][1] == (
        b"RESTORE",
        b"b",
        b"1700000000000",
        b"p",
        b"REPLACE",
        b"ABSTTL",
    )
    assert connection.sent[1][0] == (b"SELECT", b"1")
    assert connection.sent[0][0][2] == b"0"  # no expiry


def test_the_first_refusal_names_the_key() -> None:
    connection = FakeConnection(refuse=frozenset({b"bad"}))
    loader = loader_on(connection)
    loader.restore(0, b"good", None, b"p")
    loader.restore(3, b"bad", None, b"p")
    with pytest.raises(ToolError, match=r"key b'bad' \(database 3\) refused: ERR bad payload"):
        loader.finish()
