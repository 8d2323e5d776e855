"""SCRIPT KILL, SCRIPT HELP, FUNCTION KILL, FUNCTION HELP: the parts of scripting that are
about this node.

A script runs in the node's apply loop (one that may write) or at a read point (EVAL_RO and
the like). SCRIPT KILL stops a read-only script on the node that runs it; a script that may
write runs on every replica, and stopping one replica's copy halfway would make the replicas
differ, so it is unkillable: its instruction budget ends it, at the same point everywhere.
FUNCTION KILL does the same for functions: it stops an FCALL_RO, never an FCALL (which runs
on every replica, whatever the function's flags). Each refuses to stop the other's kind, with
Redis's BUSY texts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ...commands import CommandError
from ...resp import OK, Reply
from ...scripting.fcall import BUSY_EVAL, FunctionCall
from ..client import ClientState
from .base import HelpText, handler, help_reply

if TYPE_CHECKING:
    from ..dispatch import Dispatcher

NOTBUSY: Final = "NOTBUSY No scripts in execution right now."
BUSY_FUNCTION: Final = (
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
)
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


FUNCTION_HELP: Final[HelpText] = [
    (
        "load",
        [
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
        ],
    ),
    ("delete", ["DELETE <LIBRARY NAME>", "    Delete the given library."]),
    (
        "list",
        [
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME"
            " argument.",
        ],
    ),
    (
        "stats",
        [
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
        ],
    ),
    ("kill", ["KILL", "    Kill the current running function."]),
    (
        "flush",
        [
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
        ],
    ),
    (
        "dump",
        [
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored"
            " using FUNCTION RESTORE command",
        ],
    ),
    (
        "restore",
        [
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a"
            " restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision,"
            " abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision,"
            " replace the old",
            "      libraries with the new libraries (notice that even on this option there is a"
            " chance of failure",
            "      in case of functions name collision with another library).",
        ],
    ),
]


@handler("script|kill")
def script_kill(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    running = d.machine.scripting.running
    if running is None:
        raise CommandError(NOTBUSY)
    if isinstance(running, FunctionCall):
        raise CommandError(UNKILLABLE if not running.killable else BUSY_FUNCTION)
    if not running.killable:
        raise CommandError(UNKILLABLE)
    d.machine.scripting.engine.kill()
    return OK


@handler("function|kill")
def function_kill(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    running = d.machine.scripting.running
    if running is None:
        raise CommandError(NOTBUSY)
    killable = running.killable if isinstance(running, FunctionCall) else running.read_only
    if not killable:
        raise CommandError(UNKILLABLE)
    if not isinstance(running, FunctionCall):
        raise CommandError(BUSY_EVAL)
    d.machine.scripting.engine.kill()
    return OK


@handler("function|help")
def function_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return help_reply(d, "function", FUNCTION_HELP)


@handler("script|help")
def script_help(d: Dispatcher, client: ClientState, argv: list[bytes]) -> Reply:
    return help_reply(d, "script", SCRIPT_HELP)
