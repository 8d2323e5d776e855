"""The readable account of a run: one line per event, stamped with the simulated step.

Formatting costs time, so callers test `enabled` before building a line (a sweep runs with
tracing off). Turning the trace on never changes what the run does: it only reads.
"""

from __future__ import annotations

from concord_resp.raft.core import Message, MessageType


class Trace:
    def __init__(self, *, enabled: bool, echo: bool = False) -> None:
        self.enabled = enabled
        self.echo = echo  # print each line as it is made (the CLI); else only keep it
        self.lines: list[str] = []
        self.now = 0

    def emit(self, text: str) -> None:
        line = f"[{self.now:6d}] {text}"
        self.lines.append(line)
        if self.echo:
            print(line, flush=False)


def describe_message(msg: Message) -> str:
    """`n1->n2 APP t3 i5/t2 ents[6..7] c4`: the fields that matter for each type."""
    kind = msg.type
    text = f"{msg.sender}->{msg.to} {kind.name} t{msg.term}"
    if kind in (MessageType.APP, MessageType.SNAP):
        if kind == MessageType.SNAP and msg.snapshot is not None:
            meta = msg.snapshot.meta
            return (
                f"{text} snap@{meta.index}/t{meta.term} voters={','.join(meta.conf_state.voters)}"
            )
        text += f" prev={msg.index}/t{msg.log_term}"
        if msg.entries:
            text += f" ents[{msg.entries[0].index}..{msg.entries[-1].index}]"
        return f"{text} commit={msg.commit}"
    if kind == MessageType.APP_RESP:
        if msg.reject:
            return f"{text} reject idx={msg.index} hint={msg.reject_hint}/t{msg.log_term}"
        return f"{text} idx={msg.index}"
    if kind in (MessageType.VOTE, MessageType.PRE_VOTE):
        return f"{text} last={msg.index}/t{msg.log_term}"
    if kind in (MessageType.VOTE_RESP, MessageType.PRE_VOTE_RESP):
        return f"{text} {'reject' if msg.reject else 'grant'}"
    if kind == MessageType.HEARTBEAT:
        return f"{text} commit={msg.commit}{' ctx' if msg.context else ''}"
    if kind in (MessageType.READ_INDEX, MessageType.READ_INDEX_RESP):
        return f"{text} idx={msg.index} ctx={msg.context.decode(errors='replace')}"
    return text
