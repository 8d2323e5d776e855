"""Redis's `addReplyHelp` layout for the HELP subcommands of container commands."""

from __future__ import annotations

from collections.abc import Iterable

from ..resp import SimpleString


def help_reply(container: str, lines: Iterable[str]) -> list[SimpleString]:
    """`<CONTAINER> <subcommand> ...` header, the given lines, then HELP itself."""
    text = [f"{container.upper()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"]
    text.extend(lines)
    text += ["HELP", "    Prints this help."]
    return [SimpleString(line.encode()) for line in text]
