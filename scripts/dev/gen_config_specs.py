"""Capture Redis 7.0's configuration parameters: names, types, bounds, flags and defaults.

Writes concord_resp/redis_parameters.json, the data behind the Redis parameters Concord
accepts without honouring them (CONFIG GET/SET, the config file). Types, bounds, enum values
and flags are read from the declarations in Redis's config.c (data, not code); the defaults
are what a real redis-server started with no configuration answers to CONFIG GET *:

    redis-server --port 7777 --daemonize yes --pidfile /tmp/gen.pid
    python scripts/dev/gen_config_specs.py --port 7777
    kill $(cat /tmp/gen.pid)

The default of `port` is recorded as 6379, `dir` and `pidfile` as "" (not the scratch
server's own).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

MIRROR = "/work/.mirror/redis+redis/repo"
OUT = Path(__file__).resolve().parents[2] / "concord_resp" / "redis_parameters.json"

LIMITS = {
    "INT_MIN": -(2**31),
    "INT_MAX": 2**31 - 1,
    "UINT_MAX": 2**32 - 1,
    "LONG_MAX": 2**63 - 1,
    "LLONG_MAX": 2**63 - 1,
    "ULLONG_MAX": 2**64 - 1,
    "SSIZE_MAX": 2**63 - 1,
    "LONG_MIN": -(2**63),
    "LLONG_MIN": -(2**63),
}
NUMERIC = (
    "Int",
    "UInt",
    "Long",
    "ULong",
    "LongLong",
    "ULongLong",
    "SizeT",
    "SSizeT",
    "TimeT",
    "OffT",
)


def _number(text: str) -> int:
    text = text.strip()
    if text in LIMITS:
        return LIMITS[text]
    if text.startswith("-") and text[1:] in LIMITS:
        return -LIMITS[text[1:]]
    if re.fullmatch(r"0[0-7]+", text):
        return int(text, 8)
    if re.fullmatch(r"[0-9*<() ]+", text):  # 1024*1024, 100<<20
        product = 1
        for factor in text.split("*"):
            base, _, shift = factor.strip("() ").partition("<<")
            product *= int(base) << int(shift or 0)
        return product
    return int(text)


def _split_args(text: str) -> list[str]:
    """The top-level comma-separated arguments of a C call's argument list."""
    args, depth, current, quoted = [], 0, "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if not quoted and ch in "({":
            depth += 1
        if not quoted and ch in ")}":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            args.append(current.strip())
            current = ""
        else:
            current += ch
    args.append(current.strip())
    return args


def read_declarations(source: str) -> list[dict[str, Any]]:
    enums: dict[str, list[tuple[str, str]]] = {}
    for match in re.finditer(r"configEnum (\w+)\[\] = \{(.*?)\};", source, re.S):
        # (name, value): names sharing a value are spellings of one setting; the first is
        # the one CONFIG GET shows
        enums[match.group(1)] = re.findall(r'\{"([^"]+)",\s*([^}]+?)\s*\}', match.group(2))
    table = source[source.index("standardConfig static_configs[]") :]
    table = table[: table.index("{NULL}")]
    declarations = []
    for match in re.finditer(r"create(\w+?)Config\((.*?)\),\s*(?:/\*.*?\*/)?\s*$", table, re.M):
        kind, args = match.group(1), _split_args(match.group(2))
        flags = {flag.strip() for flag in args[2].split("|")}
        entry: dict[str, Any] = {
            "name": args[0].strip('"'),
            "alias": None if args[1] == "NULL" else args[1].strip('"'),
            "immutable": "IMMUTABLE_CONFIG" in flags,
            "protected": "PROTECTED_CONFIG" in flags,
            "sensitive": "SENSITIVE_CONFIG" in flags,
            "multi": "MULTI_ARG_CONFIG" in flags,
        }
        if kind == "Bool":
            entry["type"] = "bool"
        elif kind in ("String", "SDS"):
            entry["type"] = "string"
        elif kind == "Enum":
            entry["type"] = "enum"
            entry["values"] = enums[args[3]]
        elif kind in NUMERIC:
            numeric = args[7]
            entry["type"] = "int"
            entry["min"], entry["max"] = _number(args[3]), _number(args[4])
            entry["memory"] = "MEMORY_CONFIG" in numeric
            entry["percent"] = "PERCENT_CONFIG" in numeric
            entry["octal"] = "OCTAL_CONFIG" in numeric
        else:
            entry["type"] = "special"
        declarations.append(entry)
    return declarations


def config_get_all(port: int) -> dict[str, str]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$1\r\n*\r\n")
        reader = sock.makefile("rb")
        header = reader.readline()
        assert header[:1] == b"*", header
        items = []
        for _ in range(int(header[1:])):
            length = int(reader.readline()[1:])
            items.append(reader.read(length + 2)[:-2].decode())
    return dict(zip(items[::2], items[1::2], strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tag", default="7.0.15")
    args = parser.parse_args()
    source = subprocess.run(
        ["git", "-C", MIRROR, "show", f"{args.tag}:src/config.c"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    values = config_get_all(args.port)
    values["port"] = "6379"
    values["dir"] = ""
    values["pidfile"] = ""  # (the one the scratch server was started with)
    declarations = []
    for entry in read_declarations(source):
        if entry["name"] not in values:  # hidden and debug-only parameters CONFIG GET * skips
            continue
        entry["default"] = values[entry["name"]]
        declarations.append(entry)
    OUT.write_text(json.dumps(declarations, indent=1) + "\n")
    print(f"{len(declarations)} parameters -> {OUT}")


if __name__ == "__main__":
    main()
