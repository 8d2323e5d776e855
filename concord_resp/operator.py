"""The `concord` tool's cluster commands: status (and status --watch), members, join, remove,
transfer-leader, snapshot.

Each connects to one node (`-h`, `-p`) over RESP. What only the leader knows (the members'
match indexes, lag and reachability) comes from `RAFT.NODES`, which any node answers by
asking the leader; each member's own view (term, commit and applied index) comes from its
`INFO raft`. Output is a human-readable table, or JSON with `--json`. Exit status: 0 when the
command worked (for `status`: the cluster is healthy), 1 otherwise.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from .server.resp_client import ToolError, call, parse_info

__all__ = ["ToolError", "call", "members", "parse_info", "parse_nodes", "status"]

Call = Callable[..., object]  # (host, port, *args, timeout=...) -> reply; raises ToolError

NODE_COLUMNS = ("name", "address", "role", "voter", "match", "lag", "last_contact_ms", "reachable")


def parse_nodes(reply: object) -> list[dict[str, Any]]:
    """RAFT.NODES (RESP2: one flat field/value array per member) as dicts."""
    if not isinstance(reply, list):
        raise ToolError(f"unexpected RAFT.NODES reply {reply!r:.200}")
    rows = []
    for entry in reply:
        if not isinstance(entry, list) or len(entry) % 2:
            raise ToolError(f"unexpected RAFT.NODES entry {entry!r:.200}")
        rows.append({str(entry[i]): entry[i + 1] for i in range(0, len(entry), 2)})
    return rows


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    headers = [column.upper().replace("_", "-") for column in columns]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def members(call: Call, host: str, port: int, *, as_json: bool) -> int:
    rows = parse_nodes(call(host, port, "RAFT.NODES"))
    print(json.dumps(rows, indent=2) if as_json else table(rows, NODE_COLUMNS))
    return 0


def status(call: Call, host: str, port: int, *, as_json: bool) -> int:
    """Every member's role, term, commit/applied index, lag and health, and a verdict."""
    here = parse_info(call(host, port, "INFO", "raft"))
    try:
        rows = parse_nodes(call(host, port, "RAFT.NODES"))
        problem = None
    except ToolError as error:  # no leader: show what this node knows
        problem = str(error)
        rows = [
            {"name": name, "role": "?", "voter": 1}
            for name in here.get("raft_voters", "").split(",")
            if name
        ]
        rows += [
            {"name": name, "role": "?", "voter": 0}
            for name in here.get("raft_learners", "").split(",")
            if name
        ]
        for key, value in here.items():
            if key.startswith("member_"):
                name = key.removeprefix("member_")
                address = value.split(",", 1)[0].removeprefix("address=")
                for row in rows:
                    if row["name"] == name:
                        row["address"] = address
    for row in rows:
        info = _member_info(call, str(row.get("address", "")))
        row["term"] = info.get("raft_term", "-")
        row["commit"] = info.get("raft_commit_index", "-")
        row["applied"] = info.get("raft_applied_index", "-")
        row["health"] = "up" if info else "down"
        if info and row.get("reachable") == 0:
            row["health"] = "up, cut off from the leader"
    verdict, healthy = _verdict(rows, problem)
    if as_json:
        print(json.dumps({"verdict": verdict, "healthy": healthy, "nodes": rows}, indent=2))
    else:
        columns = ("name", "address", "role", "voter", "term", "commit", "applied", "lag")
        print(table(rows, (*columns, "last_contact_ms", "health")))
        print(verdict)
    return 0 if healthy else 1


def watch(call: Call, host: str, port: int, *, interval: float, as_json: bool) -> int:
    """`status` again every `interval` seconds (the screen cleared first on a terminal)
    until Ctrl-C; a node that does not answer is a line, not the end."""
    try:
        while True:
            if sys.stdout.isatty():
                print("\x1b[H\x1b[2J", end="")
            print(time.strftime("%Y-%m-%d %H:%M:%S"), f"{host}:{port}", flush=True)
            try:
                status(call, host, port, as_json=as_json)
            except ToolError as error:
                print(f"UNAVAILABLE: {error}")
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0


def _member_info(call: Call, address: str) -> dict[str, str]:
    """INFO raft of the member at `host:port@cluster-port`, or {} if it does not answer."""
    client, _, _ = address.partition("@")
    host, _, port = client.rpartition(":")
    if not port.isdigit():
        return {}
    try:
        return parse_info(call(host, int(port), "INFO", "raft", timeout=2.0))
    except Exception:  # down, or not answering: the table says so
        return {}


def _verdict(rows: list[dict[str, Any]], problem: str | None) -> tuple[str, bool]:
    voters = [row for row in rows if row.get("voter") == 1]
    quorum = len(voters) // 2 + 1
    if problem is not None:
        return f"UNAVAILABLE: {problem}", False
    leader = next((row["name"] for row in rows if row.get("role") == "leader"), None)
    reachable = [row for row in voters if row.get("reachable") == 1]
    lags = [int(row["lag"]) for row in rows if isinstance(row.get("lag"), int)]
    summary = (
        f"leader {leader}, {len(reachable)}/{len(voters)} voters reachable (quorum {quorum}),"
        f" largest lag {max(lags, default=0)}"
    )
    if leader is None or len(reachable) < quorum:
        return f"UNAVAILABLE: {summary}", False
    down = [row["name"] for row in rows if row.get("reachable") != 1 or row["health"] != "up"]
    if down:
        return f"DEGRADED: {', '.join(down)} not healthy; {summary}", False
    return f"OK: {summary}", True


def transfer_leader(call: Call, host: str, port: int, name: str | None, *, as_json: bool) -> int:
    call(host, port, "RAFT.TRANSFER_LEADER", *([name] if name else []), timeout=30.0)
    rows = parse_nodes(call(host, port, "RAFT.NODES"))
    leader = next((row["name"] for row in rows if row.get("role") == "leader"), None)
    print(json.dumps({"leader": leader}) if as_json else f"leader is now {leader}")
    return 0


def snapshot(call: Call, host: str, port: int, *, as_json: bool) -> int:
    """SAVE on that node (only this client waits), then where the snapshot is."""
    call(host, port, "SAVE", timeout=600.0)
    index = parse_info(call(host, port, "INFO", "raft")).get("raft_snapshot_index")
    print(
        json.dumps({"snapshot_index": int(index or 0)})
        if as_json
        else f"snapshot written at index {index}"
    )
    return 0


def join(call: Call, host: str, port: int, name: str, address: str, *, as_json: bool) -> int:
    """Add `name` at `address` as a learner (it is promoted once it has caught up). The node
    itself is started with `concord-server --join`; this is for adding it beforehand."""
    call(host, port, "RAFT.NODE", "ADD", name, address, timeout=30.0)
    text = f"{name} added at {address} as a learner; it becomes a voter once caught up"
    print(json.dumps({"added": name, "address": address}) if as_json else text)
    return 0


def remove(call: Call, host: str, port: int, name: str, *, force: bool, as_json: bool) -> int:
    call(host, port, "RAFT.NODE", "REMOVE", name, *(["FORCE"] if force else []), timeout=30.0)
    print(json.dumps({"removed": name}) if as_json else f"{name} removed")
    return 0
