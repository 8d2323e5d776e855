"""Specs for commands Redis 7.0 lacks but clients use (from Redis 7.2's command JSON).

redis-py 5+ sends `CLIENT SETINFO` on connect; `CLIENT NO-TOUCH` came with it. They are
declared here in the same typed-JSON form as `redis_commands.json` and merged into CLIENT.
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
