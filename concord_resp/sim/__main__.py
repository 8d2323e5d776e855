"""`python -m concord_resp.sim --seed S [--trace] [--bug NAME] [--nodes 3|5] [--steps N]`:
run (or replay: the same arguments give the same run, bit for bit) one simulated cluster and
print its verdict, its final digest and, with `--trace`, every event as it happens.
Exit status: 0 ok, 1 a check failed, 2 the linearizability search ran out of budget.
"""

from __future__ import annotations

import argparse
import os
import sys

from .cluster import run
from .config import PROFILES, SimBug, SimConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m concord_resp.sim", description="Run one deterministic cluster simulation."
    )
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--trace", action="store_true", help="print every event")
    parser.add_argument("--bug", choices=[b.value for b in SimBug], help="switch on a bug")
    parser.add_argument("--nodes", type=int, choices=(3, 5), help="voters (default: by seed)")
    parser.add_argument("--steps", type=int, help="steps of faults (default 2000)")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="fault mix (default: by seed)")
    args = parser.parse_args(argv)
    config = SimConfig.for_seed(
        args.seed,
        nodes=args.nodes,
        steps=args.steps,
        profile=args.profile,
        bug=SimBug(args.bug) if args.bug else None,
        trace=args.trace,
    )
    result = run(config, echo=args.trace)
    print(result.summary())
    stats = " ".join(f"{key}={value}" for key, value in sorted(result.stats.items()))
    print(f"stats: {stats}")
    print(f"digest: {result.digest}")
    if result.verdict == "unknown":
        print(result.detail)
    return {"ok": 0, "fail": 1}.get(result.verdict, 2)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the reader (`| head`) went away: that is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
