"""SCRIPT KILL and SCRIPT HELP: the parts of scripting that are about this node.

A script runs in the node's apply loop (one that may write) or at a read point (EVAL_RO and
the like). SCRIPT KILL stops a read-only script on the node that runs it; a script that may
write runs on every replica, and stopping one replica's copy halfway would make the replicas
differ, so it is unkillable: its instruction budget ends it, at the same point everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ...commands import CommandError
from ...resp import OK, Reply
from ..client import ClientState
from .base import HelpText, handler, help_reply

if TYPE_CHECKING:
    from ..dispatch import Dispatcher

NOTBUSY: Final = "NOTBUSY No scripts in execution right now."
UNKILLABLE: Final = (
    "UNKILLABLE Sorry the script already executed write commands against the dataset. You can"
    " either wait the script termination or kill the server in a hard way using the SHUTDOWN"
    " NOSAVE command."
)

SCRIPT_HELP: Final[HelpText] = [
    (
        "exists",
        [
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
        ],
    ),
    (
        "flush",
        [
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
        ],
    ),
    ("kill", ["KILL", "    Kill the currently executing Lua script."]),
    (
        "load",
        [
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    ),
]


@handler("script|kill")
def script_kill(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    running = d.machine.scripting.running
    if running is None:
        raise CommandError(NOTBUSY)
    if not running.killable:
        raise CommandError(UNKILLABLE)
    d.machine.scripting.engine.kill()
    return OK


@handler("script|help")
def script_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return help_reply(d, "script", SCRIPT_HELP)
