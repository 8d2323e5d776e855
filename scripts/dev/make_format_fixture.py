"""Write `tests/fixtures/datadir-v1/`: a data directory made by a real concord-server.

The fixture pins the on-disk format of the first release (log records, entry payloads,
snapshot records, `meta`): every later version must load it (tests/e2e/test_data_format.py).
It was generated once with the version of commit 7ea2bf7, the last one to write that format;
running this again with a later version writes that version's format instead, so do it only
to add a new fixture next to the old one.

The directory holds a snapshot taken by SAVE and a log tail after it: plain and MULTI writes
(with SELECT inside), an active-expiry deletion on both sides of the snapshot, keys with and
without a time to live, strings changed in place and an INCRBYFLOAT result (encoding notes),
SWAPDB, RENAME, COPY and DEL. `expected.json` records what a client must read back.

    PYTHONPATH=. .venv/bin/python scripts/dev/make_format_fixture.py tests/fixtures/datadir-v1
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import redis

from tests.support.processes import ConcordProcess

FAR_FUTURE = 4102444800  # 2100-01-01: a time to live that never runs out in a test


def wait_gone(client: redis.Redis, key: str) -> None:
    """Until active expiry (an entry in the log) has deleted `key`."""
    deadline = time.monotonic() + 10
    while client.execute_command("DEBUG", "DIGEST-VALUE", key) != [b"0" * 40]:
        assert time.monotonic() < deadline, f"{key} was never expired"
        time.sleep(0.02)


def before_snapshot(client: redis.Redis) -> None:
    client.set("plain", "value")
    client.set("counter", 10)
    client.incr("counter")
    client.append("grown", "abc")
    client.append("grown", "def")  # a bytearray now: OBJECT ENCODING raw
    client.incrbyfloat("float", "1.5")
    client.set("lasting", "ttl", exat=FAR_FUTURE)
    client.mset({"m1": "a", "m2": "b", "m3": "c"})
    client.set("short", "lived", px=1)
    wait_gone(client, "short")
    pipe = client.pipeline(transaction=True)
    pipe.set("tx1", "one")
    pipe.execute_command("SELECT", "3")
    pipe.set("in3", "three")
    pipe.execute_command("SELECT", "0")
    pipe.incrby("counter", 5)
    pipe.execute()
    client.set("renamed-from", "moving")
    client.rename("renamed-from", "renamed-to")
    client.copy("plain", "copied")
    client.execute_command("SELECT", "5")
    client.set("five", "5")
    client.execute_command("SELECT", "0")
    client.execute_command("SWAPDB", "5", "6")
    client.set("doomed", "x")
    client.delete("doomed")


def after_snapshot(client: redis.Redis) -> None:
    client.append("grown", "ghi")
    client.set("after", "snapshot", exat=FAR_FUTURE)
    client.delete("m2")
    client.set("short2", "lived", px=1)
    wait_gone(client, "short2")
    pipe = client.pipeline(transaction=True)
    pipe.set("tx2", "two")
    pipe.incr("counter")
    pipe.expire("m3", 10**9)
    pipe.execute()
    client.setrange("plain", 0, "V")


def expected(client: redis.Redis) -> dict[str, object]:
    keys: dict[str, object] = {}
    for db in (0, 3, 6):
        client.execute_command("SELECT", str(db))
        for key in sorted(client.keys("*")):
            name = key.decode()
            keys[f"{db}/{name}"] = {
                "value": client.get(key).decode(),  # type: ignore[union-attr]
                "expiretime": client.expiretime(key),
                "encoding": client.object("encoding", key).decode(),  # type: ignore[union-attr]
            }
    client.execute_command("SELECT", "0")
    digest = client.execute_command("DEBUG", "DIGEST")
    return {"digest": digest.decode(), "keys": keys}


def main() -> None:
    target = Path(sys.argv[1])
    if target.exists():
        sys.exit(f"{target} exists: a fixture is never rewritten")
    work = target.parent / (target.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    server = ConcordProcess(work / "data", "--snapshot-entries", "0", "--hz", "50").start()
    try:
        client = redis.Redis(port=server.port)
        before_snapshot(client)
        assert client.execute_command("SAVE") is True
        after_snapshot(client)
        facts = expected(client)
        client.close()
    finally:
        assert server.stop() == 0
    (work / "data" / "LOCK").unlink()
    shutil.move(work / "data", target)
    shutil.rmtree(work)
    (target.parent / (target.name + ".json")).write_text(json.dumps(facts, indent=2) + "\n")
    print(f"wrote {target} and {target.name}.json: {len(facts['keys'])} keys")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
