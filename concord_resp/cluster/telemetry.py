"""Structured telemetry events in Python's `logging`: leader changes, membership changes,
snapshots taken, sent, received and installed.

Each event is one INFO record whose text a reader understands and whose fields a machine
reads: `record.event` is the event's stable name (`leader_changed`, `member_added`, ...) and
each field is an attribute of the record too (`extra`), so a JSON formatter or a log shipper
gets them without parsing; the text ends with the same fields as `key=value` pairs, so a
plain log file shows them. Event names and field names are part of the interface: changing
one breaks whoever alerts on it.
"""

from __future__ import annotations

import logging
from typing import Final

# LogRecord's own attributes, which `extra` must not replace.
_RESERVED: Final = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def event(logger: logging.Logger, name: str, text: str, **fields: object) -> None:
    """Log event `name`: `text` for people, `fields` for machines (see the module)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    assert not _RESERVED.intersection(fields), "a field would replace a LogRecord attribute"
    pairs = " ".join(f"{key}={value}" for key, value in fields.items())
    logger.info("%s [event=%s %s]", text, name, pairs, extra={"event": name, **fields})
