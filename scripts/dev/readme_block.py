"""README.md's generated blocks: the text between a begin and an end marker, written by a
script (gen_config_table.py, gen_metrics_table.py) or checked against what it would write."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def main(begin: str, end: str, render: str, what: str, script: str) -> int:
    """Rewrite README.md's block (`render` includes both markers), or with --check exit 1 if
    it is not that text."""
    parser = argparse.ArgumentParser(description=f"Write README.md's {what} ({script}).")
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs")
    args = parser.parse_args()
    text = README.read_text()
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < 0:
        print(f"README.md has no {begin} ... {end} block", file=sys.stderr)
        return 1
    updated = text[:start] + render + text[stop + len(end) :]
    if args.check:
        if updated != text:
            print(f"README.md's {what} is not the generated one: run {script}", file=sys.stderr)
            return 1
        return 0
    README.write_text(updated)
    return 0
