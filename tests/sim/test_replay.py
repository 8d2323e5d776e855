"""A seed replays a run bit for bit: same trace, same digest, in any process."""

import os
import subprocess
import sys

from concord_resp.sim import SimBug, SimConfig, run


def test_a_seed_replays_exactly_and_tracing_changes_nothing() -> None:
    first = run(SimConfig.for_seed(11, trace=True))
    second = run(SimConfig.for_seed(11, trace=True))
    assert first.verdict == "ok"
    assert len(first.trace) > 1000
    assert first.trace == second.trace
    assert first.digest == second.digest
    quiet = run(SimConfig.for_seed(11))
    assert quiet.trace == ()
    assert quiet.digest == first.digest
    assert run(SimConfig.for_seed(12)).digest != first.digest


def cli(*args: str, hash_seed: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    return subprocess.run(
        [sys.executable, "-m", "concord_resp.sim", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_replay_does_not_depend_on_the_process_or_its_hash_seed() -> None:
    config = SimConfig.for_seed(4)
    inside = run(config)
    one = cli("--seed", "4", "--trace", hash_seed="0")
    two = cli("--seed", "4", "--trace", hash_seed="4242")
    assert one.returncode == two.returncode == 0
    assert one.stdout == two.stdout
    assert f"digest: {inside.digest}" in one.stdout
    assert "deliver n" in one.stdout
    assert "starts (incarnation 1)" in one.stdout


def test_a_failing_seed_replays_bit_for_bit() -> None:
    config = SimConfig.for_seed(0, bug=SimBug.TRUNCATE_ON_MATCH, trace=True)
    first = run(config)
    again = run(config)
    assert first.verdict == "fail"
    assert (again.verdict, again.failure, again.detail) == (
        first.verdict,
        first.failure,
        first.detail,
    )
    assert again.trace == first.trace
    assert again.digest == first.digest
    assert first.trace[-1].endswith(first.detail) or "FAILURE" in first.trace[-1]
    # The replay command printed by a sweep reproduces it in a fresh process.
    replay = config.replay_command().split()[3:]  # drop "python -m concord_resp.sim"
    process = cli(*replay, "--trace", hash_seed="99")
    assert process.returncode == 1
    assert process.stdout.splitlines()[: len(first.trace)] == list(first.trace)
    assert f"digest: {first.digest}" in process.stdout
