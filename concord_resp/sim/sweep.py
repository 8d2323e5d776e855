"""Run many seeds and report: failing seeds (with the exact replay command), unknown
linearizability verdicts, seeds run and simulated steps per second.

`python -m concord_resp.sim.sweep --seeds N [--start S] [--bug NAME] [--jobs J]` (what
`scripts/sim` runs). Seeds are independent runs, so they are spread over worker processes;
the results do not depend on how many there are. This module is the only part of the
simulator that reads a clock (to report speed) or starts processes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from .cluster import SimResult, run
from .config import PROFILES, SimBug, SimConfig


@dataclass(frozen=True, slots=True)
class SeedOutcome:
    seed: int
    verdict: str
    failure: str
    detail: str
    steps: int
    seconds: float
    summary: str
    replay: str
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class SweepReport:
    outcomes: list[SeedOutcome] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def failures(self) -> list[SeedOutcome]:
        return [o for o in self.outcomes if o.verdict == "fail"]

    @property
    def unknown(self) -> list[SeedOutcome]:
        return [o for o in self.outcomes if o.verdict == "unknown"]

    @property
    def steps(self) -> int:
        return sum(o.steps for o in self.outcomes)

    def total(self, stat: str) -> int:
        """A run counter (`SimResult.stats`) summed over every seed."""
        return sum(o.stats.get(stat, 0) for o in self.outcomes)

    def steps_per_second(self) -> float:
        """Simulated steps per second of CPU spent in runs (per core)."""
        busy = sum(o.seconds for o in self.outcomes)
        return self.steps / busy if busy else 0.0

    def summary(self) -> str:
        return (
            f"{len(self.outcomes)} seeds, {len(self.failures)} failing, "
            f"{len(self.unknown)} unknown; {self.steps} simulated steps in "
            f"{self.wall_seconds:.1f}s wall ({self.steps_per_second():.0f} steps/s per core, "
            f"{self.steps / self.wall_seconds if self.wall_seconds else 0:.0f} steps/s overall);"
            f" {self.total('node_compactions')} compactions,"
            f" {self.total('node_snapshots_in')} snapshots installed,"
            f" {self.total('conf_changes')} membership changes"
        )


def run_seed(config: SimConfig) -> SeedOutcome:
    started = time.perf_counter()
    result: SimResult = run(config)
    seconds = time.perf_counter() - started
    return SeedOutcome(
        config.seed,
        result.verdict,
        result.failure,
        result.detail,
        result.steps,
        seconds,
        result.summary(),
        config.replay_command(),
        dict(result.stats),
    )


def sweep(
    configs: Iterable[SimConfig],
    *,
    jobs: int = 1,
    stop_at_first: bool = False,
    on_outcome: Callable[[SeedOutcome], None] | None = None,
) -> SweepReport:
    """Run every config (in order of seeds in the report); `stop_at_first` returns at the
    first failing seed (the bug hunts)."""
    report = SweepReport()
    started = time.perf_counter()
    configs = list(configs)
    if jobs <= 1:
        for config in configs:
            outcome = run_seed(config)
            report.outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
            if stop_at_first and outcome.verdict == "fail":
                break
    else:
        pool = ProcessPoolExecutor(max_workers=jobs)
        try:
            futures = [pool.submit(run_seed, config) for config in configs]
            for future in futures:
                outcome = future.result()
                report.outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
                if stop_at_first and outcome.verdict == "fail":
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    report.wall_seconds = time.perf_counter() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m concord_resp.sim.sweep", description="Run a sweep of simulator seeds."
    )
    parser.add_argument("--seeds", type=int, default=200, help="how many seeds")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--bug", choices=[b.value for b in SimBug], help="switch on a bug")
    parser.add_argument("--nodes", type=int, choices=(3, 5), help="voters (default: by seed)")
    parser.add_argument("--steps", type=int, help="fault steps per run (default 2000)")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="fault mix (default: by seed)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--verbose", action="store_true", help="print every seed")
    args = parser.parse_args(argv)
    bug = SimBug(args.bug) if args.bug else None
    configs = [
        SimConfig.for_seed(seed, nodes=args.nodes, steps=args.steps, profile=args.profile, bug=bug)
        for seed in range(args.start, args.start + args.seeds)
    ]

    def show(outcome: SeedOutcome) -> None:
        if args.verbose or outcome.verdict != "ok":
            print(outcome.summary, flush=True)
            if outcome.verdict == "fail" and outcome.failure == "error":
                print(outcome.detail, flush=True)

    report = sweep(configs, jobs=args.jobs, on_outcome=show)
    print(report.summary())
    if report.failures:
        print("failing seeds: " + " ".join(str(o.seed) for o in report.failures))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
