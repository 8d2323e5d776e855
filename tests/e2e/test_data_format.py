"""Data directories written by earlier versions still load, and go on working.

`tests/fixtures/datadir-v1/` was written by a real concord-server of the first on-disk format
(`scripts/dev/make_format_fixture.py`): a snapshot taken by SAVE, then a log tail, with plain,
MULTI and active-expiry entries. A server of this version must start on a copy of it, read back
exactly what was written (values, expiry times, encodings, the dataset digest), take new
writes into the same log and snapshot directory, and restart from the mix.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import redis

from tests.support.processes import ConcordProcess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

Factory = Callable[..., ConcordProcess]


def read_back(client: redis.Redis, keys: dict[str, dict[str, object]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for slot in keys:
        db, name = slot.split("/", 1)
        client.execute_command("SELECT", db)
        value = client.get(name)
        found[slot] = {
            "value": None if value is None else value.decode(),
            "expiretime": client.expiretime(name),
            "encoding": client.object("encoding", name).decode(),  # type: ignore[union-attr]
        }
    client.execute_command("SELECT", "0")
    return found


def test_a_first_format_data_directory_loads_and_keeps_working(
    tmp_path: Path, concord_factory: Factory
) -> None:
    facts = json.loads((FIXTURES / "datadir-v1.json").read_text())
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "datadir-v1", data)

    server = concord_factory(data_dir=data)
    client = redis.Redis(port=server.port)
    assert client.execute_command("DEBUG", "DIGEST").decode() == facts["digest"]
    assert read_back(client, facts["keys"]) == facts["keys"]
    # New writes go into the old log, and a new snapshot beside the old one.
    client.set("new", "entry")
    client.append("grown", "+")
    assert client.execute_command("SAVE") is True
    client.incr("counter")
    digest = client.execute_command("DEBUG", "DIGEST")
    client.close()
    assert server.stop() == 0

    again = concord_factory(data_dir=data)
    client = redis.Redis(port=again.port)
    assert client.execute_command("DEBUG", "DIGEST") == digest
    assert client.get("new") == b"entry"
    assert client.get("grown") == b"abcdefghi+"
    assert client.get("counter") == b"18"
    client.close()
