"""Same-run A/B of `scripts/bench`'s workloads: this checkout against an older one.

Starts the servers of both checkouts at once (a single node and a 3-node cluster each, as
`scripts/bench` does), then runs each redis-benchmark workload against the old and the new
servers in turn, in ABBA order (so neither side always goes second), several times. Prints
the medians and new/old for each row, with every run's figure: on a shared 2-core VM single
runs vary by about 20%, so compare medians over several runs, and rerun a row that looks off.

    git worktree add /tmp/base <commit>     # the version to compare against
    PYTHONPATH=. .venv/bin/python scripts/dev/ab_interleaved.py /tmp/base
    PYTHONPATH=. .venv/bin/python scripts/dev/ab_interleaved.py /tmp/base --only cluster \\
        --repeats 6 --rows "SET:-c 50 -P 1:follower,SET:-c 50 -P 16:follower"

Each server runs its own checkout's code (`python -m concord_resp` from that directory).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench  # noqa: E402

from tests.support.cluster import LocalCluster  # noqa: E402
from tests.support.processes import ConcordProcess, free_port  # noqa: E402

TARGETS = ("single", "leader", "follower")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="the older checkout (a git worktree)")
    parser.add_argument("--repeats", type=int, default=4, help="runs per side (even: ABBA)")
    parser.add_argument("--only", choices=("all", "single", "cluster"), default="all")
    parser.add_argument(
        "--rows", default="", help='comma-separated "TEST:OPTIONS:TARGET" (default: all)'
    )
    parser.add_argument(
        "--new-flag",
        action="append",
        default=[],
        metavar="FLAG",
        help="a flag every new-side server gets, with a free port for it (e.g. --metrics-port:"
        " the new side runs with metrics on); repeatable",
    )
    args = parser.parse_args()
    rows = [row.split(":") for row in args.rows.split(",") if row]
    work = Path(tempfile.mkdtemp(prefix="ab-"))
    ports: dict[tuple[str, str], int] = {}
    singles: list[ConcordProcess] = []
    clusters: list[LocalCluster] = []
    try:
        for side, root in (("base", args.base.resolve()), ("new", ROOT)):
            os.chdir(root)  # `python -m concord_resp` then runs this checkout's code
            flags = args.new_flag if side == "new" else []
            if args.only in ("all", "single"):
                single = ConcordProcess(
                    work / side / "single",
                    "--fsync",
                    "always",
                    "--loglevel",
                    "warning",
                    *_with_ports(flags),
                ).start()
                singles.append(single)
                ports[(side, "single")] = single.port
            if args.only in ("all", "cluster"):
                cluster = LocalCluster(
                    work / side / "cluster", 3, proxied=False, extra_args=bench.CLUSTER_ARGS
                )
                clusters.append(cluster)
                for member in cluster.members.values():
                    member.process.args += _with_ports(flags)
                cluster.start_all()
                leader = cluster.leader()
                follower = next(name for name in cluster.names if name != leader)
                ports[(side, "leader")] = cluster.ports[leader]
                ports[(side, "follower")] = cluster.ports[follower]
        os.chdir(ROOT)
        targets = [t for t in TARGETS if ("new", t) in ports]
        print(f"# {args.base} (base) against {ROOT} (new): medians of {args.repeats} runs")
        for test, options in bench.WORKLOADS:
            requests = bench.requests_for(options, False) // 2
            for target in targets:
                if rows and [test, options, target] not in rows:
                    continue
                runs: dict[str, list[float]] = {"base": [], "new": []}
                for i in range(args.repeats):
                    for side in ("base", "new") if i % 2 == 0 else ("new", "base"):
                        result = bench.run_benchmark(ports[(side, target)], test, options, requests)
                        runs[side].append(result.rps)
                old, new = statistics.median(runs["base"]), statistics.median(runs["new"])
                print(
                    f"{test:<4} {options:<12} {target:<9} base {old:>10,.0f}  new {new:>10,.0f}"
                    f"  {new / old:5.2f}   runs: base {[round(x) for x in runs['base']]}"
                    f" new {[round(x) for x in runs['new']]}",
                    flush=True,
                )
    finally:
        for single in singles:
            single.stop()
        for cluster in clusters:
            cluster.stop_all()


def _with_ports(flags: list[str]) -> list[str]:
    """Each flag followed by a free port of its own."""
    return [item for flag in flags for item in (flag, str(free_port()))]


if __name__ == "__main__":
    main()
