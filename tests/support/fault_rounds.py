"""Randomized fault rounds against real clusters: the long version of test_cluster_faults.py.

`python -m tests.support.fault_rounds --minutes 5 --seed 7 --nodes 3` (what `scripts/faults`
runs). Each round starts a fresh `LocalCluster` (peer links through the fault proxy) under a
`Workload` (register, append, list or script, in turn), then injects faults drawn from the
round's seed one after another, each held for a random moment and then healed (kill -9 of the leader
or of random nodes, of a minority, or of every node; SIGSTOP; isolation; a minority/majority
partition; random one-way link cuts), waiting after each for the cluster to serve on every
node again. Then every key is read on every node and the history checked.

A round fails on: a verdict other than "ok", an ok call on a cut-off minority, an unexpected
error reply, a node that exited on its own, or a cluster that did not recover in time. Each
round prints one line; failing rounds keep their directory (node logs, data) and print the
seed that replays the same fault schedule. Exit status 1 if any round failed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from tests.support.cluster import LocalCluster
from tests.support.jepsen import Workload, WorkloadKind, now

RECOVERY_TIMEOUT: Final = 30.0
RECOVERY_WRITES: Final = 3  # acknowledged writes per node that prove it serves again
MAX_FAULTS_PER_ROUND: Final = 50
FAULT_ERRORS: Final = ("CLUSTERDOWN No raft leader", "TIMEOUT ")
PROBLEM_LINES: Final = 12


@dataclass
class Window:
    """A time during which `minority` was cut off from the rest: nothing may succeed there."""

    minority: list[str]
    start: int
    end: int = 0


@dataclass
class Round:
    number: int
    seed: int
    kind: WorkloadKind
    faults: list[str] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    summary: str = ""
    installs: int = 0  # InstallSnapshot completions seen in the nodes' logs
    operations: int = 0
    check_seconds: float = 0.0


Fault = Callable[[LocalCluster, random.Random, Round], str]


def hold(rng: random.Random) -> None:
    """Keep a fault in place for a random moment while the real processes run."""
    time.sleep(rng.uniform(0.3, 4.0))


def _target(cluster: LocalCluster, rng: random.Random) -> str:
    """The leader half of the time (the interesting victim), else any member."""
    return cluster.leader(RECOVERY_TIMEOUT) if rng.random() < 0.5 else rng.choice(cluster.names)


def kill_one(cluster: LocalCluster, rng: random.Random, run: Round) -> str:
    victim = _target(cluster, rng)
    cluster.kill(victim)
    hold(rng)
    cluster.start(victim)
    return f"kill {victim}"


def kill_minority(cluster: LocalCluster, rng: random.Random, run: Round) -> str:
    victims = rng.sample(cluster.names, (cluster.size - 1) // 2)
    for victim in victims:
        cluster.kill(victim)
    hold(rng)
    for victim in victims:
        cluster.start(victim)
    return f"kill {','.join(victims)}"


def kill_all(cluster: LocalCluster, rng: random.Random, run: Round) -> str:
    cluster.kill_all()
    cluster.start_all()
    return "kill all"


def pause_one(cluster: LocalCluster, rng: random.Random, run: Round) -> str:
    victim = _target(cluster, rng)
    cluster.pause(victim)
    hold(rng)
    cluster.resume(victim)
    return f"pause {victim}"


def isolate_one(cluster: LocalCluster, rng: random.Random, run: Round) -> str:
    victim = _target(cluster, rng)
    return _cut(cluster, rng, run, [victim], f"isolate {victim}")


def partition(cluster: LocalCluster, rng: random.Random, run: Round) -> str:
    minority = rng.sample(cluster.names, rng.randint(1, (cluster.size - 1) // 2))
    return _cut(cluster, rng, run, minority, f"partition {','.join(minority)}")


def _cut(
    cluster: LocalCluster, rng: random.Random, run: Round, minority: list[str], text: str
) -> str:
    assert cluster.proxy is not None
    majority = [n for n in cluster.names if n not in minority]
    cluster.proxy.partition(minority, majority)
    window = Window(minority, now())
    hold(rng)
    window.end = now()
    cluster.proxy.heal()
    run.windows.append(window)
    return text


def one_way(cluster: LocalCluster, rng: random.Random, run: Round) -> str:
    """Random directed links cut: asymmetric faults (a node that can send but not hear)."""
    assert cluster.proxy is not None
    links = [(a, b) for a in cluster.names for b in cluster.names if a != b]
    chosen = rng.sample(links, rng.randint(1, len(links) // 2))
    for src, dst in chosen:
        cluster.proxy.block(src, dst)
    hold(rng)
    cluster.proxy.heal()
    return "block " + ",".join(f"{a}>{b}" for a, b in chosen)


FAULTS: Final[list[tuple[Fault, int]]] = [
    (kill_one, 3),
    (kill_minority, 1),
    (kill_all, 1),
    (pause_one, 3),
    (isolate_one, 3),
    (partition, 2),
    (one_way, 2),
]


def recover(cluster: LocalCluster, workload: Workload) -> None:
    """Wait until a leader is agreed and clients on every node have writes acknowledged."""
    cluster.leader(RECOVERY_TIMEOUT)
    start = now()
    for name in cluster.names:
        workload.wait_for(
            RECOVERY_WRITES, writes=True, nodes=[name], start=start, timeout=RECOVERY_TIMEOUT
        )


def served_while_cut_off(workload: Workload, windows: list[Window]) -> list[str]:
    found = []
    for window in windows:
        for record in workload.records():
            inside = window.start <= record.invoke and record.complete <= window.end
            if inside and record.node in window.minority:
                if record.status == "ok":
                    found.append(f"served while cut off: {record}")
                elif not (record.error or "").startswith(FAULT_ERRORS):
                    found.append(f"unclear error while cut off: {record}")
    return found


def run_round(run: Round, base_dir: Path, nodes: int, seconds: float) -> None:
    rng = random.Random(run.seed)
    faults, weights = zip(*FAULTS, strict=True)
    with LocalCluster(base_dir, nodes) as cluster:
        workload = Workload(cluster.ports, kind=run.kind, clients=2 * nodes, seed=run.seed)
        try:
            cluster.leader(RECOVERY_TIMEOUT)
            with workload:
                recover(cluster, workload)
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline and len(run.faults) < MAX_FAULTS_PER_ROUND:
                    fault = rng.choices(faults, weights)[0]
                    run.faults.append(f"{fault.__name__} (interrupted)")
                    run.faults[-1] = fault(cluster, rng, run)
                    recover(cluster, workload)
        except (TimeoutError, RuntimeError) as error:
            run.problems.append(f"{type(error).__name__}: {error}")
        if cluster.crashed():
            run.problems.append(f"nodes exited on their own: {cluster.crashed()}")
        run.summary = workload.summary()
        if run.problems:
            print(cluster.log_tails(30), file=sys.stderr)  # the round's directory has the rest
            return
        workload.final_reads()
        run.problems += workload.problems() + served_while_cut_off(workload, run.windows)
        started = time.monotonic()
        result = workload.check()
        run.check_seconds = time.monotonic() - started
        run.operations = len(workload.records())
        if result.verdict != "ok":
            run.problems.append(result.explain())


def shorten(text: str, lines: int = PROBLEM_LINES) -> str:
    """A problem's first line and its last few (a start-up failure carries a whole log;
    the failing round's directory keeps everything)."""
    parts = text.splitlines()
    if len(parts) <= lines + 1:
        return text
    return "\n".join([parts[0], "  ...", *parts[-lines:]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/faults", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="total run time (default 5)")
    parser.add_argument(
        "--seed", type=int, default=None, help="first round's seed (default: random)"
    )
    parser.add_argument("--nodes", type=int, choices=(3, 5), default=3)
    parser.add_argument(
        "--round-seconds", type=float, default=30.0, help="faults per round (default 30 s)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="stop after this many rounds")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where rounds keep their nodes' data"
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    base = args.dir or Path(tempfile.mkdtemp(prefix="concord-faults-"))
    deadline = time.monotonic() + args.minutes * 60
    print(f"faults: seed {seed}, {args.nodes} nodes, {args.minutes} min, data in {base}")
    rounds: list[Round] = []
    while time.monotonic() < deadline and (args.rounds is None or len(rounds) < args.rounds):
        number = len(rounds) + 1
        kind: WorkloadKind = ("register", "append", "list", "script")[number % 4]
        run = Round(number, seed + number - 1, kind)
        directory = base / f"round{number}"
        seconds = min(args.round_seconds, max(5.0, deadline - time.monotonic() - 10.0))
        started = time.monotonic()
        run_round(run, directory, args.nodes, seconds)
        verdict = "FAIL" if run.problems else "ok"
        installs = sum(
            log.read_text(errors="replace").count("installed snapshot")
            for log in directory.glob("n*.log")
        )
        run.installs = installs
        print(
            f"round {number} seed {run.seed} {kind} {len(run.faults)} faults "
            f"{run.operations} ops (check {run.check_seconds:.1f} s, round "
            f"{time.monotonic() - started:.0f} s): {verdict}\n  faults: {'; '.join(run.faults)}"
            f"\n  calls: {run.summary}; snapshots installed: {installs}",
            flush=True,
        )
        for problem in run.problems:
            print(f"  PROBLEM: {shorten(problem)}", flush=True)
        if run.problems:
            print(
                f"  kept {directory}; replay: scripts/faults --seed {run.seed} --rounds 1 "
                f"--nodes {args.nodes} (schedules also depend on timing)",
                flush=True,
            )
        else:
            shutil.rmtree(directory, ignore_errors=True)
        rounds.append(run)
    failed = [r for r in rounds if r.problems]
    total_ops = sum(r.operations for r in rounds)
    print(
        f"summary: {len(rounds)} rounds, {sum(len(r.faults) for r in rounds)} faults, "
        f"{total_ops} operations checked, {sum(r.installs for r in rounds)} snapshots"
        f" installed, {len(failed)} failed"
        + (f" (seeds {', '.join(str(r.seed) for r in failed)})" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
