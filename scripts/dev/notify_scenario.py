"""Write the `!reply sub` lines of a keyspace-notification compat scenario from a real Redis.

A notify scenario (compat/scenarios/notify_*.txt) subscribes a client `sub` to `__key*__:*`
and reads each message with `!reply sub`; a missing or extra line makes the harness wait or
mismatch. This runs the scenario's commands (on `main` and other named clients, `!send` and
`!reply NAME` included; `sub`'s own (un)subscribing and PING are left out) on a scratch Redis,
counts the messages a subscriber of its own receives after each, and prints the scenario with
exactly that many `!reply sub` lines after each command (those already there are dropped
first, so it can be run again on a scenario it wrote). The messages go to stderr.

    redis-server --port 7777 --save '' &
    python scripts/dev/notify_scenario.py --port 7777 compat/scenarios/notify_list.txt > new.txt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import redis

from concord_resp.resp import split_args

QUIET_SECONDS = 0.15  # no message for this long after a command: it published all of them
# What `sub` sends that only a subscriber does; its other commands (a RESP3 subscriber may
# send any) are run on a plain client of their own, and what they publish is counted.
SUBSCRIBER_ONLY = frozenset(
    {b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE", b"UNSUBSCRIBE", b"PUNSUBSCRIBE", b"PING"}
)


def expand(port: int, lines: list[str]) -> list[str]:
    server = redis.Redis(port=port)
    server.flushall()
    server.config_set("notify-keyspace-events", "")
    subscriber = server.pubsub()
    subscriber.psubscribe("__key*__:*")
    deadline = time.monotonic() + 5
    while subscriber.get_message(timeout=0.5) is None:  # the confirmation
        if time.monotonic() > deadline:
            raise TimeoutError("no PSUBSCRIBE confirmation")
    clients: dict[str, redis.Connection] = {}

    def client(name: str) -> redis.Connection:
        if name not in clients:
            clients[name] = redis.Connection(port=port)
            clients[name].connect()
        return clients[name]

    def read(connection: redis.Connection) -> object:
        try:
            return connection.read_response()
        except redis.ResponseError as error:
            return error

    def replies() -> list[str]:
        count = 0
        while (message := subscriber.get_message(timeout=QUIET_SECONDS)) is not None:
            print("    ", message["channel"], message["data"], file=sys.stderr)
            count += 1
        return ["!reply sub"] * count

    out: list[str] = []
    target, mode = "main", ""
    for line in lines:
        text = line.strip()
        if text == "!reply sub":
            continue
        out.append(line)
        if not text or text.startswith("#"):
            continue
        if text.startswith("!"):
            parts = text.split()
            if parts[0] == "!reply":
                print("!reply", parts[1], read(client(parts[1])), file=sys.stderr)
                out.extend(replies())
            elif parts[0] == "!blocked":
                time.sleep(0.3)
            elif parts[0] in ("!on", "!send"):
                target, mode = parts[1], parts[0]
            continue
        name, sending = target, mode == "!send"
        target, mode = "main", ""
        argv = split_args(text.encode())
        assert argv is not None, f"unbalanced quotes: {text}"
        if name == "sub" and argv[0].upper() in SUBSCRIBER_ONLY:
            continue
        connection = client(name)
        connection.send_command(*argv)
        if sending:
            continue
        print(text, "->", read(connection), file=sys.stderr)
        out.extend(replies())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("scenario", type=Path)
    args = parser.parse_args()
    print("\n".join(expand(args.port, args.scenario.read_text().splitlines())))


if __name__ == "__main__":
    main()
