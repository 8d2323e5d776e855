"""Specs for commands Redis 7.0 lacks: clients' (from Redis 7.2's command JSON) and
Concord's own.

redis-py 5+ sends `CLIENT SETINFO` on connect; `CLIENT NO-TOUCH` came with it. They are
declared here in the same typed-JSON form as `redis_commands.json` and merged into CLIENT.
Concord's cluster commands (`RAFT.*`, named like module commands) are added at the top level.
"""

from __future__ import annotations

from typing import Any

_CONNECTION_FLAGS = {"~": [{"+": "noscript"}, {"+": "loading"}, {"+": "stale"}]}
_CONNECTION_ACL = {"~": [{"+": "@slow"}, {"+": "@connection"}]}


def _info(name: str, arity: int) -> list[Any]:
    return [
        name,
        arity,
        _CONNECTION_FLAGS,
        0,
        0,
        0,
        _CONNECTION_ACL,
        {"~": []},
        {"~": []},
        {"~": []},
    ]


def _docs(summary: str, arguments: list[Any]) -> dict[str, Any]:
    return {
        "%": [
            ["summary", summary],
            ["since", "7.2.0"],
            ["group", "connection"],
            ["complexity", "O(1)"],
            ["arguments", arguments],
        ]
    }


def _arg(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return {"%": [list(pair) for pair in pairs]}


EXTRA_SUBCOMMANDS: dict[str, list[tuple[list[Any], dict[str, Any]]]] = {
    "client": [
        (
            _info("client|setinfo", 4),
            _docs(
                "Sets information specific to the client or connection.",
                [
                    _arg(
                        ("name", "attr"),
                        ("type", "oneof"),
                        (
                            "arguments",
                            [
                                _arg(
                                    ("name", "libname"), ("type", "string"), ("token", "LIB-NAME")
                                ),
                                _arg(("name", "libver"), ("type", "string"), ("token", "LIB-VER")),
                            ],
                        ),
                    )
                ],
            ),
        ),
        (
            _info("client|no-touch", 3),
            _docs(
                "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
                [
                    _arg(
                        ("name", "enabled"),
                        ("type", "oneof"),
                        (
                            "arguments",
                            [
                                _arg(("name", "on"), ("type", "pure-token"), ("token", "ON")),
                                _arg(("name", "off"), ("type", "pure-token"), ("token", "OFF")),
                            ],
                        ),
                    )
                ],
            ),
        ),
    ]
}


# `no_multi`: an operator request waits on the cluster; inside MULTI it is refused, as Redis
# refuses SAVE there.
_CLUSTER_FLAGS = {"~": [{"+": "admin"}, {"+": "noscript"}, {"+": "stale"}, {"+": "no_multi"}]}
_CLUSTER_ACL = {"~": [{"+": "@admin"}, {"+": "@slow"}, {"+": "@dangerous"}]}


def _cluster_command(
    name: str,
    arity: int,
    summary: str,
    arguments: list[Any],
    subcommands: list[tuple[list[Any], dict[str, Any]]] | None = None,
) -> tuple[list[Any], dict[str, Any]]:
    subs = [info for info, _ in subcommands or []]
    info = [name, arity, _CLUSTER_FLAGS, 0, 0, 0, _CLUSTER_ACL, {"~": []}, {"~": []}, subs]
    pairs: list[list[Any]] = [
        ["summary", summary],
        ["since", "0.1.0"],
        ["group", "cluster"],
        ["complexity", "O(N) where N is the number of members"],
    ]
    if subcommands:
        pairs.append(["subcommands", {"%": [[i[0], d] for i, d in subcommands]}])
    else:
        pairs.append(["arguments", arguments])
    return info, {"%": pairs}


def _string(name: str, *, optional: bool = False, token: str | None = None) -> dict[str, Any]:
    pairs: list[tuple[str, Any]] = [("name", name), ("type", "pure-token" if token else "string")]
    if token:
        pairs.append(("token", token))
    if optional:
        pairs.append(("flags", {"~": [{"+": "optional"}]}))
    return _arg(*pairs)


EXTRA_COMMANDS: list[tuple[list[Any], dict[str, Any]]] = [
    _cluster_command(
        "raft.nodes",
        1,
        "Returns every member of the Concord cluster as the leader sees it.",
        [],
    ),
    _cluster_command(
        "raft.node",
        -2,
        "A container for membership changes.",
        [],
        [
            _cluster_command(
                "raft.node|add",
                4,
                "Adds a node as a learner; it becomes a voter once it has caught up.",
                [_string("name"), _string("address")],
            ),
            _cluster_command(
                "raft.node|remove",
                -3,
                "Removes a node, unless too few reachable voters would be left (FORCE).",
                [_string("name"), _string("force", optional=True, token="FORCE")],
            ),
        ],
    ),
    _cluster_command(
        "raft.backup",
        -2,
        "A container for taking a backup of the node's state over the client port.",
        [],
        [
            _cluster_command(
                "raft.backup|open",
                2,
                "Writes a snapshot now; returns its name, size, SHA-256 and log index.",
                [],
            ),
            _cluster_command(
                "raft.backup|read",
                5,
                "Returns up to COUNT bytes of snapshot NAME from OFFSET.",
                [_string("name"), _string("offset"), _string("count")],
            ),
        ],
    ),
    _cluster_command(
        "raft.transfer_leader",
        -1,
        "Hands Raft leadership to a voter (the most up-to-date one by default).",
        [_string("name", optional=True)],
    ),
]
