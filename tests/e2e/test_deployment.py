"""The container entry point and `--join` by name, with real processes on 127.0.0.1.

Pods: `concord-container start` run with the environment a StatefulSet gives each pod, on
one machine: pod N's "DNS name" is the loopback address 127.0.0.1N (CONCORD_PEER_HOST's
template; loopback names cannot be made here), every pod on the same ports, as in a
cluster. Three founding pods elect a leader, two more join as learners and are promoted
(scaling 3 to 5), and pods killed with their volumes come back with their data. Names: a
node joins with `--join localhost:PORT` and `--advertise localhost:...` (names the seed and
the leader must resolve), and one whose `--join` never resolves keeps retrying and says so.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.cluster import HOST, TIMING, LocalCluster, bindable, reserved_ports
from tests.support.processes import ConcordProcess

ROOT = Path(__file__).resolve().parents[2]
SECRET = "d9c1f4e0b7a25e83c6f19a0d4b2e7c58a1f3d6b9e0c2a4f7"
PASSWORD = "pod-password-42"
WAIT = 40.0  # seconds: elections, joins, promotions


def pod_host(ordinal: int) -> str:
    return f"127.0.0.1{ordinal}"


class Pods:
    """concord-container processes named concord-0, concord-1, ... with their volumes."""

    def __init__(self, base: Path, initial: int) -> None:
        self.base = base
        self.initial = initial
        self.port, self.cluster_port = self._ports()
        (base / "secret").write_text(SECRET + "\n")
        (base / "password").write_text(PASSWORD + "\n")
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def _ports(self) -> tuple[int, int]:
        """Two ports free on every pod's address."""
        for _ in range(100):
            ports = reserved_ports(2)
            if all(bindable(port, pod_host(n)) for n in range(5) for port in ports):
                return ports[0], ports[1]
        raise RuntimeError("no ports free on 127.0.0.10-14")

    def env(self, ordinal: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
        return {
            **env,
            "HOSTNAME": f"concord-{ordinal}",
            "CONCORD_PEER_HOST": "127.0.0.1{ordinal}",
            "CONCORD_BIND": pod_host(ordinal),
            "CONCORD_PORT": str(self.port),
            "CONCORD_CLUSTER_PORT": str(self.cluster_port),
            "CONCORD_INITIAL_MEMBERS": str(self.initial),
            "CONCORD_JOIN": f"{pod_host(0)}:{self.port}",
            "CONCORD_DIR": str(self.base / f"volume-{ordinal}"),
            "CONCORD_CLUSTER_SECRET_FILE": str(self.base / "secret"),
            "CONCORD_PASSWORD_FILE": str(self.base / "password"),
        }

    def log(self, ordinal: int) -> Path:
        return self.base / f"concord-{ordinal}.log"

    def start(self, ordinal: int, **extra: str) -> None:
        command = [sys.executable, "-m", "concord_resp.container", "start", "--", *TIMING]
        with open(self.log(ordinal), "ab") as log:
            self.processes[ordinal] = subprocess.Popen(
                command,
                env={**self.env(ordinal), **extra},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill(self, ordinal: int) -> None:
        process = self.processes.pop(ordinal)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def health(self, ordinal: int, *flags: str) -> int:
        command = [sys.executable, "-m", "concord_resp.container", "health", *flags]
        env = self.env(ordinal)  # (the probe asks CONCORD_BIND's address: the pod's)
        return subprocess.run(command, env=env, capture_output=True, timeout=20).returncode

    def client(self, ordinal: int) -> redis.Redis:
        return redis.Redis(
            host=pod_host(ordinal), port=self.port, password=PASSWORD, socket_timeout=10
        )

    def raft(self, ordinal: int) -> dict[str, str]:
        client = self.client(ordinal)
        try:
            info = client.info("raft")
        finally:
            client.close()
        # (redis-py splits a value with commas into a list)
        return {
            key: ",".join(map(str, value)) if isinstance(value, list) else str(value)
            for key, value in info.items()
        }

    def wait_ready(self, ordinal: int) -> None:
        deadline = time.monotonic() + WAIT
        while self.health(ordinal) != 0:
            process = self.processes[ordinal]
            if process.poll() is not None:
                raise RuntimeError(f"concord-{ordinal} exited:\n{self.log(ordinal).read_text()}")
            assert time.monotonic() < deadline, self.log(ordinal).read_text()
            time.sleep(0.1)

    def wait_voters(self, ordinal: int, expected: set[str]) -> None:
        deadline = time.monotonic() + WAIT
        seen: object = None
        while seen != expected:
            assert time.monotonic() < deadline, f"voters {seen}, not {expected}"
            time.sleep(0.1)
            try:
                voters = self.raft(ordinal).get("raft_voters", "")
                seen = set(voters.split(",")) if voters else set()
            except redis.RedisError as error:
                seen = str(error)

    def stop_all(self) -> None:
        for ordinal in list(self.processes):
            self.kill(ordinal)


@pytest.fixture
def pods(tmp_path: Path) -> Iterator[Pods]:
    group = Pods(tmp_path, initial=3)
    try:
        yield group
    finally:
        group.stop_all()


def test_a_statefulset_of_three_scales_to_five_and_pods_come_back_with_their_volumes(
    pods: Pods,
) -> None:
    for ordinal in range(3):
        pods.start(ordinal)
    for ordinal in range(3):
        pods.wait_ready(ordinal)
    founders = {"concord-0", "concord-1", "concord-2"}
    pods.wait_voters(0, founders)
    client = pods.client(1)
    assert client.set("before-scaling", "3 pods")
    client.close()

    # Scaling to 5: the new pods join through CONCORD_JOIN and are promoted.
    for ordinal in (3, 4):
        pods.start(ordinal)
    pods.wait_voters(0, {*founders, "concord-3", "concord-4"})
    for ordinal in (3, 4):
        pods.wait_ready(ordinal)
        client = pods.client(ordinal)
        assert client.get("before-scaling") == b"3 pods"
        client.close()
    assert pods.raft(4)["raft_cluster_id"] == pods.raft(0)["raft_cluster_id"]

    # A founding pod and a joined pod are killed and rescheduled with their volumes: the
    # same flags, and the data directory says they are members already.
    for ordinal in (1, 3):
        pods.kill(ordinal)
    client = pods.client(0)
    assert client.set("while-away", "yes")
    client.close()
    for ordinal in (1, 3):
        pods.start(ordinal)
    for ordinal in (1, 3):
        pods.wait_ready(ordinal)
        client = pods.client(ordinal)
        assert client.get("while-away") == b"yes"
        client.close()
    pods.wait_voters(2, {*founders, "concord-3", "concord-4"})
    assert pods.log(3).read_text().count("joined the cluster") == 1
    assert pods.log(1).read_text().count("(founding member)") == 2
    # Scaling down: the member is removed first, then its pod goes, and its volume.
    client = pods.client(0)
    client.execute_command("RAFT.NODE", "REMOVE", "concord-4")
    client.close()
    pods.kill(4)
    shutil.rmtree(pods.base / "volume-4")
    pods.wait_voters(0, {*founders, "concord-3"})
    # Scaling up again: a removed name never comes back, so the new pod is refused under
    # the pod's name, and joins under CONCORD_NODE_NAME's.
    pods.start(4)
    assert pods.processes[4].wait(timeout=WAIT) == 1
    assert "was removed from this cluster; join under a new name" in pods.log(4).read_text()
    pods.processes.pop(4)
    pods.start(4, CONCORD_NODE_NAME="{pod}-2")
    pods.wait_voters(0, {*founders, "concord-3", "concord-4-2"})
    pods.wait_ready(4)

    # A founding pod loses its volume: it must not vote with nothing, so it refuses to
    # start until its member is removed; then it joins as a new member. (Not the leader's
    # pod: a leader elected after a member died knows nothing of what it acknowledged.)
    leader = pods.raft(0)["raft_leader"]
    victim = 2 if leader != "concord-2" else 1
    pods.kill(victim)
    shutil.rmtree(pods.base / f"volume-{victim}")
    pods.start(victim)
    assert pods.processes[victim].wait(timeout=WAIT) == 2
    assert f"concord-{victim}: the volume" in pods.log(victim).read_text()
    assert "its data is lost" in pods.log(victim).read_text()
    pods.processes.pop(victim)
    client = pods.client(0)
    client.execute_command("RAFT.NODE", "REMOVE", f"concord-{victim}")
    client.close()
    pods.start(victim, CONCORD_NODE_NAME="{pod}-2")
    everyone = {*founders, "concord-3", "concord-4-2", f"concord-{victim}-2"}
    pods.wait_voters(0, everyone - {f"concord-{victim}"})
    pods.wait_ready(victim)
    client = pods.client(victim)
    assert client.get("while-away") == b"yes"
    client.close()

    # The password is the default user's, from the ACL file the entry point made once.
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=pod_host(2), port=pods.port, password="wrong").ping()
    assert PASSWORD not in (pods.base / "volume-0" / "users.acl").read_text()

    # The probes: a stopped pod fails both.
    assert pods.health(2, "--live") == 0
    pods.kill(2)
    assert pods.health(2, "--live") == 1
    assert pods.health(2) == 1


def test_a_node_joins_and_is_dialed_by_name(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, size=3) as cluster:
        port, cluster_port = reserved_ports(2)
        joiner = ConcordProcess(
            tmp_path / "n4",
            "--name",
            "n4",
            "--cluster-port",
            str(cluster_port),
            "--join",
            f"localhost:{cluster.members['n2'].port}",
            "--advertise",
            f"localhost:{port}@{cluster_port}",
            *TIMING,
            port=port,
        )
        joiner.start()
        try:
            deadline = time.monotonic() + WAIT
            while True:
                client = cluster.client("n1")
                try:
                    rows = client.execute_command("RAFT.NODES")
                except redis.RedisError:
                    rows = []
                finally:
                    client.close()
                n4 = [row for row in rows if row[b"name"] == b"n4"]
                if n4 and n4[0][b"voter"] == 1:
                    break
                assert time.monotonic() < deadline, rows
                time.sleep(0.1)
            assert n4[0][b"address"] == f"localhost:{port}@{cluster_port}".encode()
            assert redis.Redis(host=HOST, port=port).set("by-name", "ok")
            assert cluster.client("n3").get("by-name") == b"ok"
        finally:
            joiner.kill()


def test_a_join_name_that_never_resolves_is_retried_and_logged(tmp_path: Path) -> None:
    joiner = ConcordProcess(
        tmp_path / "n9", "--name", "n9", "--join", "concord.nowhere.invalid:6379"
    )
    joiner.start(wait=False)
    try:
        deadline = time.monotonic() + WAIT
        expected = "cannot reach concord.nowhere.invalid:6379: the name does not resolve"
        while joiner.output().count(expected) < 2:
            assert joiner.process is not None
            assert joiner.process.poll() is None, joiner.output()
            assert time.monotonic() < deadline, joiner.output()
            time.sleep(0.1)
        assert "next try in 0.5 s" in joiner.output()
        assert "next try in 1.0 s" in joiner.output()
    finally:
        joiner.kill()


def test_the_wheel_the_image_installs_runs_a_pod_and_its_health_check(
    tmp_path: Path, pods: Pods
) -> None:
    """The Dockerfile's two stages without Docker: a wheel built from what the build stage
    copies (pyproject.toml, README.md, concord_resp/), installed on its own (no source tree
    to import from), runs a one-member StatefulSet through its `concord-container`."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "concord_resp", source / "concord_resp")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(tmp_path / "wheels"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheels").glob("concord_resp-*.whl")
    target = tmp_path / "site"
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    env = {**pods.env(0), "CONCORD_INITIAL_MEMBERS": "1", "PYTHONPATH": str(target)}
    tool = str(target / "bin" / "concord-container")
    where = {"cwd": str(tmp_path), "env": env}  # (not the source tree)
    with open(pods.log(0), "ab") as log:
        pods.processes[0] = subprocess.Popen(
            [tool, "start"], stdout=log, stderr=subprocess.STDOUT, **where
        )
    deadline = time.monotonic() + WAIT
    while subprocess.run([tool, "health"], capture_output=True, timeout=20, **where).returncode:
        assert pods.processes[0].poll() is None, pods.log(0).read_text()
        assert time.monotonic() < deadline, pods.log(0).read_text()
        time.sleep(0.1)
    client = pods.client(0)
    assert client.set("from-the-wheel", "yes")
    client.close()
    origin = subprocess.run(
        [sys.executable, "-c", "import concord_resp; print(concord_resp.__file__)"],
        capture_output=True,
        text=True,
        timeout=30,
        **where,
    )
    assert origin.stdout.strip() == str(target / "concord_resp" / "__init__.py")
