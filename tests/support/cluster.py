"""A local cluster of real concord-server processes for tests and scripts (127.0.0.1 only).

`LocalCluster(base_dir, size)` runs members n1..nN, each with its own data directory
`base_dir/<name>` and log `base_dir/<name>.log`, on free ports (`reserved_ports`), with
`--fsync always`, fast timing (heartbeat 50 ms, election 500 ms, write/read timeouts 2 s) and
a snapshot every 200 entries. With `proxied=True` (the default) a `FaultProxy` sits on every
peer link, so `cluster.proxy` can cut links.

    with LocalCluster(tmp_path, 3) as cluster:
        leader = cluster.leader()
        client = cluster.client(leader)
        cluster.kill(leader); cluster.start(leader)

Rules: processes are started and stopped by this object only, by PID (a paused member gets
SIGCONT before SIGKILL); every wait is bounded; leaving the `with` block kills every member
and closes the proxy, and prints the tail of every node log when the block raised, so a
failing test shows what the nodes were doing.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

import redis

from concord_resp.operator import ToolError, call
from tests.support.processes import ConcordProcess, wait_until_serving
from tests.support.proxy import FaultProxy
from tests.support.tls import TlsFiles
from tests.support.workload import connect

HOST: Final = "127.0.0.1"
TIMING: Final = (
    "--heartbeat-ms",
    "50",
    "--election-ms",
    "500",
    "--write-timeout-ms",
    "2000",
    "--read-timeout-ms",
    "2000",
    # Frequent snapshots and small log segments, so faults also hit nodes while a child
    # writes a snapshot, segments are deleted, and lagging nodes are sent snapshots; restarts
    # restore them.
    "--snapshot-entries",
    "200",
    "--segment-size",
    "64kb",
    "--snapshot-catchup-entries",
    "50",
)
PORT_FLOOR: Final = 20000
PORT_ATTEMPTS: Final = 1000
POLL: Final = 0.05  # seconds between two looks at the members' INFO
INFO_TIMEOUT: Final = 1.0
LOG_TAIL: Final = 60


def reserved_ports(count: int) -> list[int]:
    """`count` distinct free ports BELOW the kernel's ephemeral range.

    `free_port()` answers from the ephemeral range, where every outgoing connection (a
    client's, a peer link's, the proxy's) also takes its source port: a member restarted
    after kill -9 could find its port taken by one of those. Ports outside that range are
    only ever taken by someone binding them on purpose.
    """
    low = _ephemeral_low()
    rng = random.Random()
    chosen: list[int] = []
    for _ in range(PORT_ATTEMPTS):
        if len(chosen) == count:
            return chosen
        port = rng.randrange(PORT_FLOOR, low)
        if port not in chosen and bindable(port):
            chosen.append(port)
    if len(chosen) == count:
        return chosen
    raise RuntimeError(f"found only {len(chosen)} of {count} free ports below {low}")


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def bindable(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class Member:
    """One node: its client port, the cluster port the others dial (`cluster_port`) and the
    one it listens on (`listen_port`; differs when the proxy sits in between)."""

    name: str
    port: int
    cluster_port: int
    listen_port: int
    process: ConcordProcess
    paused: bool = False
    down: bool = True  # stopped on purpose (or never started): not running is expected

    @property
    def running(self) -> bool:
        popen = self.process.process
        return popen is not None and popen.poll() is None

    @property
    def log(self) -> Path:
        return self.process.log


class LocalCluster:
    """`size` members n1..nN; see the module docstring."""

    def __init__(
        self,
        base_dir: Path,
        size: int = 3,
        *,
        proxied: bool = True,
        extra_args: Iterable[str] = (),
        password: str | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.password = password  # the default user's, if the members require one
        # With `tls`: TLS only (each member's client port is a TLS port) and TLS peer links.
        self.tls = tls
        tls_args = [] if tls is None else tls.cluster_args()
        self.size = size
        self.extra_args = list(extra_args)
        self.members: dict[str, Member] = {}
        ports = iter(reserved_ports(3 * size))
        for number in range(1, size + 1):
            name = f"n{number}"
            port, cluster_port, listen_port = next(ports), next(ports), next(ports)
            self.members[name] = Member(
                name,
                port,
                cluster_port,
                listen_port if proxied else cluster_port,
                ConcordProcess(base_dir / name, port=port),  # args below, once all ports exist
            )
        self.initial_cluster = ",".join(
            f"{m.name}={HOST}:{m.port}@{m.cluster_port}" for m in self.members.values()
        )
        for member in self.members.values():
            member.process.args = [
                "--name",
                member.name,
                "--cluster-port",
                str(member.listen_port),
                "--initial-cluster",
                self.initial_cluster,
                "--fsync",
                "always",
                *TIMING,
                *self._tls_client_port(member.port),
                *tls_args,
                *extra_args,  # later flags win, so callers may override the timing
            ]
            member.process.tls = None if tls is None else tls.context()
        self.proxy: FaultProxy | None = None
        if proxied:
            self.proxy = FaultProxy(
                {m.name: (m.cluster_port, m.listen_port) for m in self.members.values()},
                tls=None if tls is None else tls.peer_contexts(),
            )
        self._proxy_started = False

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        try:
            self.start_all()
        except BaseException:
            self.stop_all()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None and not issubclass(exc_type, KeyboardInterrupt):
                print(self.log_tails())
        finally:
            self.stop_all()

    def start_all(self) -> None:
        """Start the proxy (once) and every member not running; wait until all answer PING."""
        if self.proxy is not None and not self._proxy_started:
            self.proxy.start()
            self._proxy_started = True
        starting = [m for m in self.members.values() if not m.running]
        for member in starting:
            member.process.start(wait=False)
            member.paused = member.down = False
        for member in starting:
            assert member.process.process is not None
            wait_until_serving(member.port, member.process.process, member.log, member.process.tls)

    def kill_all(self) -> None:
        """kill -9 every member (paused ones too), as close to together as possible."""
        for member in self.members.values():
            self._signal_kill(member)
        for member in self.members.values():
            if member.process.process is not None:
                member.process.process.wait(timeout=10)

    def stop_all(self) -> None:
        """Kill every member by PID and close the proxy. Idempotent."""
        try:
            self.kill_all()
        finally:
            if self.proxy is not None and self._proxy_started:
                self.proxy.close()

    # -- faults on one member ----------------------------------------------------------------

    def kill(self, name: str) -> None:
        """kill -9 `name` (no flush, no goodbye) and wait for it to be gone."""
        member = self.members[name]
        self._signal_kill(member)
        if member.process.process is not None:
            member.process.process.wait(timeout=10)

    def start(self, name: str) -> None:
        """Restart `name` on its ports and data directory; returns once it answers PING."""
        member = self.members[name]
        if member.running:
            raise RuntimeError(f"{name} is already running")
        member.process.start(wait=True)
        member.paused = member.down = False

    def join(self, name: str, through: str) -> None:
        """Start a new member `name` with `--join` through member `through`; returns once it
        answers PING (it is a learner by then). Behind the proxy it advertises the proxy's
        port for it, as the founding members do."""
        port, cluster_port, listen_port = reserved_ports(3)
        if self.proxy is None:
            listen_port = cluster_port
        else:
            self.proxy.add_route(name, cluster_port, listen_port)
        process = ConcordProcess(self.base_dir / name, port=port)
        process.args = [
            "--name",
            name,
            "--cluster-port",
            str(listen_port),
            "--advertise",
            f"{HOST}:{port}@{cluster_port}",
            "--join",
            f"{HOST}:{self.members[through].port}",
            "--fsync",
            "always",
            *TIMING,
            *self._tls_client_port(port),
            *([] if self.tls is None else [*self.tls.cluster_args(), "--tls-replication", "yes"]),
            *self.extra_args,
        ]
        process.tls = None if self.tls is None else self.tls.context()
        member = self.members[name] = Member(name, port, cluster_port, listen_port, process)
        process.start(wait=True)
        member.down = False

    def pause(self, name: str) -> None:
        """SIGSTOP: the process keeps its sockets but does nothing until `resume`."""
        member = self.members[name]
        os.kill(member.process.pid, signal.SIGSTOP)
        member.paused = True

    def resume(self, name: str) -> None:
        member = self.members[name]
        os.kill(member.process.pid, signal.SIGCONT)
        member.paused = False

    def _signal_kill(self, member: Member) -> None:
        member.down = True
        if not member.running:
            return
        if member.paused:
            os.kill(member.process.pid, signal.SIGCONT)
            member.paused = False
        os.kill(member.process.pid, signal.SIGKILL)

    # -- looking at the members --------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self.members)

    @property
    def ports(self) -> dict[str, int]:
        """Client port of every member."""
        return {m.name: m.port for m in self.members.values()}

    def crashed(self) -> list[str]:
        """Members that exited although nobody stopped them (a node bug: see their logs)."""
        return [m.name for m in self.members.values() if not m.down and not m.running]

    def live(self) -> list[str]:
        """Members running and not paused."""
        return [m.name for m in self.members.values() if m.running and not m.paused]

    def _tls_client_port(self, port: int) -> list[str]:
        return [] if self.tls is None else ["--tls-port", str(port), "--port", "0"]

    def client(self, name: str, *, timeout: float = 10.0) -> redis.Redis:
        """A redis-py client for `name` that never retries behind the caller's back."""
        return connect(
            self.members[name].port,
            timeout=timeout,
            password=self.password,
            tls=None if self.tls is None else self.tls.redis_kwargs(),
        )

    def raft_info(self, name: str, *, timeout: float = INFO_TIMEOUT) -> dict[str, str]:
        """The `# Raft` section of INFO of `name` (raises ToolError if it cannot answer)."""
        auth = None if self.password is None else (None, self.password)
        tls = None if self.tls is None else self.tls.context()
        reply = call(
            HOST, self.members[name].port, "INFO", "raft", timeout=timeout, auth=auth, tls=tls
        )
        if not isinstance(reply, str):
            raise ToolError(f"unexpected INFO reply {reply!r}")
        fields = {}
        for line in reply.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key] = value
        return fields

    def leader(self, timeout: float = 15.0, *, exclude: Collection[str] = ()) -> str:
        """The leader a majority of the cluster agrees on, not one of `exclude`.

        A member that claims leadership counts once a majority of all members (itself
        included) report it as leader in the same term: a cut-off old leader that still
        believes in itself is never returned. Raises TimeoutError with what each member said.
        """
        deadline = time.monotonic() + timeout
        views: dict[str, dict[str, str] | str] = {}
        while True:
            views = {}
            for name in self.live():
                try:
                    views[name] = self.raft_info(name)
                except ToolError as error:
                    views[name] = str(error)
            found = self._agreed_leader(views, exclude)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"no agreed leader within {timeout}s: {views}")
            time.sleep(POLL)

    def _agreed_leader(
        self, views: dict[str, dict[str, str] | str], exclude: Collection[str]
    ) -> str | None:
        infos = {name: view for name, view in views.items() if isinstance(view, dict)}
        for name, info in infos.items():
            if info.get("raft_role") != "leader" or name in exclude:
                continue
            term = info.get("raft_term")
            voters = (info.get("raft_voters") or "").split(",")
            agree = sum(
                1
                for voter, other in infos.items()
                if voter in voters
                and other.get("raft_leader") == name
                and other.get("raft_term") == term
            )
            if agree > len(voters) // 2:
                return name
        return None

    def log_tails(self, lines: int = LOG_TAIL) -> str:
        """The last `lines` lines of every member's log, for a failing test's output."""
        parts = []
        for member in self.members.values():
            text = member.process.output().splitlines()[-lines:]
            parts.append(f"----- {member.name} ({member.log}) -----")
            parts.extend(text)
        return "\n".join(parts)
