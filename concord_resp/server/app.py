"""The server's lifecycle: start-up -> serve -> graceful shutdown (the uvicorn shape).

Start-up opens (and locks) the data directory, starts listening at once, replays the log
while answering `-LOADING` to commands that need the data, then serves. On SIGTERM or SIGINT
it stops accepting, lets every in-flight batch finish and reply, then flushes and closes the
log. A second signal exits immediately.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import hashlib
import logging
import os
import secrets
import signal
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Final

import cbor2
import trio

from ..cluster import ClusterError, Member, NodeConfig, Proposal, RaftNode
from ..cluster.peer_protocol import FRAME_OVERHEAD
from ..commands import build_table
from ..config import Config, parse_members
from ..raft.core import NOTHING_PROMISED
from ..raft.driver import WriteAheadLog
from ..raft.driver.promise_file import FILE_NAME as PROMISE_FILE
from ..raft.driver.promise_file import PromiseFile, PromiseFileError, identity
from ..raft.driver.recovery import BrokenPromiseError
from ..raft.driver.transport import PeerTransport
from ..security import Users
from ..security.commands import user_line
from ..state import OP_SET_USERS, USERS_BOOTSTRAP, Applied, StateMachine
from .client import ClientState
from .connection import FlushQueue, send_all, serve_connection
from .dispatch import Dispatcher
from .exposition import render_metrics
from .handlers import CONNECTION
from .handlers.security import (
    AclFileError,
    close_clients_of,
    close_unpermitted_subscribers,
    startup_users,
)
from .metrics_http import serve_metrics
from .peer_link import (
    PeerLinkError,
    check_peer_addresses,
    cluster_secret,
    is_loopback,
    listen_host,
    open_transport,
    peer_tls,
)
from .resp_client import ToolError, call, parse_info
from .state import ServerState
from .tls import (
    HANDSHAKE_TIMEOUT,
    TlsConfigError,
    TlsSocket,
    client_context,
    server_context,
    tls_settings,
)

log = logging.getLogger("concord.server")

META_VERSION: Final = 1


class StartupError(Exception):
    """Start-up cannot go on (data directory locked or invalid, port in use, ...)."""


def cluster_members(config: Config) -> tuple[dict[str, Member], str | None]:
    """The founding members and, for a multi-member cluster, its id (derived from the member
    list, so every founding member computes the same one without talking first)."""
    if not config.initial_cluster:
        alone = Member(config.name, config.bind, config.client_port, config.peer_port)
        return {config.name: alone}, None
    members = {
        name: Member(name, host, port, cluster_port)
        for name, (host, port, cluster_port) in parse_members(config.initial_cluster).items()
    }
    specs = ",".join(sorted(member.spec() for member in members.values()))
    return members, hashlib.sha256(specs.encode()).hexdigest()[:32]


JOIN_TIMEOUT: Final = 600.0  # seconds of transient failures before a join gives up
JOIN_BACKOFF: Final = (0.5, 10.0)  # first and longest wait between two join attempts
# A member's answers that mean "not now" rather than "no" (ToolError texts).
TRANSIENT: Final = ("CLUSTERDOWN", "TIMEOUT", "LOADING", "cannot reach")


def join_cluster(
    config: Config,
    timeout: float = JOIN_TIMEOUT,
    *,
    ask: Callable[..., object] = call,
    resolve: Callable[[str, int], object] = socket.getaddrinfo,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, str]:
    """Ask the member at `--join` to add this node as a learner. Returns the cluster's
    founding member list and id.

    `--join` may name a host that does not resolve yet (a Kubernetes Service or a pod's
    DNS record appears some time after the pod starts): like a seed that does not answer or
    a cluster without a leader, that is retried, with a wait that doubles up to
    JOIN_BACKOFF's bound, each attempt logged, until `timeout`; a refusal (a name taken at
    another address, say) stops at once. The name is looked up again on every attempt."""
    host, _, port = config.join.rpartition(":")
    address = config.advertise or f"{config.bind}:{config.client_port}@{config.peer_port}"
    deadline = clock() + timeout
    wait, longest = JOIN_BACKOFF
    auth = (config.masteruser or None, config.masterauth) if config.masterauth else None
    try:
        tls = client_context(tls_settings(config)) if config.tls_replication else None
    except TlsConfigError as error:
        raise StartupError(str(error)) from None
    while True:
        try:
            try:
                resolve(host, int(port))
            except OSError as error:  # (socket.gaierror)
                problem = f"cannot reach {host}:{port}: the name does not resolve ({error})"
                raise ToolError(problem) from None
            info = parse_info(ask(host, int(port), "INFO", "raft", auth=auth, tls=tls))
            initial, cluster_id = info.get("raft_initial_cluster"), info.get("raft_cluster_id")
            if not initial or not cluster_id:
                raise StartupError(
                    f"{config.join} runs alone (no --initial-cluster or --join): it cannot"
                    " take new members"
                )
            ask(
                host,
                int(port),
                *("RAFT.NODE", "ADD", config.name, address),
                timeout=30.0,
                auth=auth,
                tls=tls,
            )
            log.info("joined the cluster through %s as %s at %s", config.join, config.name, address)
            return initial, cluster_id
        except ToolError as error:
            problem = str(error)
            if not problem.startswith(TRANSIENT):
                raise StartupError(f"cannot join through {config.join}: {problem}") from None
        left = deadline - clock()
        if left <= 0:
            raise StartupError(f"cannot join through {config.join}: {problem}")
        log.warning(
            "cannot join through %s yet: %s; next try in %.1f s", config.join, problem, wait
        )
        sleep(min(wait, left))
        wait = min(wait * 2, longest)


def check_peer_link(config: Config, members: Iterable[Member]) -> None:
    """The secret is usable and, without one, every peer address is loopback."""
    try:
        cluster_secret(config)
        check_peer_addresses(config, members)
        peer_tls(config)
    except PeerLinkError as error:
        raise StartupError(str(error)) from None


def open_data_dir(
    config: Config, cluster_id: str | None, joining: bool = False
) -> tuple[int, dict[str, object]]:
    """Create/lock the data directory and read (or write) its `meta` file."""
    directory = config.dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StartupError(f"cannot create data directory {directory}: {error}") from None
    lock_fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(lock_fd)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise StartupError(
                f"data directory {directory} is in use by another concord-server"
            ) from None
        raise
    meta_path = directory / "meta"
    if meta_path.exists():
        try:
            meta = cbor2.loads(meta_path.read_bytes())
        except (cbor2.CBORDecodeError, OSError) as error:
            raise StartupError(f"{meta_path}: unreadable ({error})") from None
        if not isinstance(meta, dict) or meta.get("version") != META_VERSION:
            raise StartupError(f"{meta_path}: not a Concord data directory of a known version")
        if meta.get("name") != config.name:
            # A join that never finished (refused, or given up) leaves a meta file naming no
            # member of any cluster, and nothing else: that name can still change.
            if not (joining and "initial_cluster" not in meta and not _leftovers(directory)):
                raise StartupError(
                    f"{directory} belongs to node {meta.get('name')!r}, not {config.name!r}"
                )
            log.info("%s: a join as %r never finished", directory, meta.get("name"))
            meta = {**meta, "name": config.name}
            _write_atomically(meta_path, cbor2.dumps(meta))
        if cluster_id is not None and meta.get("cluster_id") != cluster_id:
            raise StartupError(
                f"{directory} belongs to cluster {meta.get('cluster_id')}, not to the cluster"
                f" of --initial-cluster ({cluster_id})"
            )
    else:
        # meta is written before anything else in the directory: without it, what is there
        # belongs to a node whose name and cluster are no longer known.
        leftovers = _leftovers(directory)
        if leftovers and not config.accept_data_loss:
            raise StartupError(
                f"{meta_path} is missing, but {directory} holds {', '.join(leftovers)}: the"
                " meta file (this node's name and cluster) was deleted. Restore it, or start"
                " with --accept-data-loss to make a new one (what the log holds is then"
                " checked against nothing)"
            )
        meta = {
            "version": META_VERSION,
            "name": config.name,
            "cluster_id": cluster_id or secrets.token_hex(16),
        }
        _write_atomically(meta_path, cbor2.dumps(meta))
    return lock_fd, meta


def _leftovers(directory: Path) -> list[str]:
    """What in the data directory holds the log or the state (not `meta` or `LOCK`)."""
    return [
        name
        for name in ("wal", "snapshots", PROMISE_FILE)
        if (directory / name).is_file() or any((directory / name).glob("*"))
    ]


def open_promise(config: Config, meta: dict[str, object]) -> tuple[PromiseFile, dict[str, object]]:
    """Open the data directory's promise file (raft/driver/promise_file.py), or make it.

    A meta file marked "promise" says the file was made: then it must be there and be this
    node's. A meta file without the mark is a data directory of an older version, a new one,
    or a meta file made again (--accept-data-loss): a promise file of this node that holds a
    promise is kept (a cluster member's meta, made again from --initial-cluster, names the
    same node); otherwise the file is made now, from what the log holds once it is read
    back, and only then is meta marked, so a crash in between just makes it again."""
    path = config.dir / PROMISE_FILE
    owner = identity(config.name, str(meta["cluster_id"]))
    marked = bool(meta.get("promise"))
    if marked or path.exists():
        try:
            found = PromiseFile.open(path, owner, fsync=config.wal_fsync)
        except PromiseFileError as error:
            if marked and not config.accept_data_loss:
                advice = (
                    "; a cluster member is safest replaced (concord remove NAME, then a new"
                    " node with --join)"
                    if config.initial_cluster
                    else ""
                )
                raise StartupError(
                    f"{error}: how far this node's log went when it last acknowledged writes"
                    " or voted is lost, so a damaged log could no longer be told from a good"
                    " one. Start with --accept-data-loss to make a new promise file from what"
                    f" the log holds (any loss before now goes unnoticed){advice}"
                ) from None
            log.warning("%s; a new one is made from the log", error)
        else:
            if marked or found.promise != NOTHING_PROMISED:
                if not marked:
                    meta = _mark_promise(config, meta)
                return found, meta
            found.close()  # made by a start that stopped before marking meta: made again
    elif (config.dir / "wal").is_dir():
        log.info("%s: no promise file yet (an older data directory): making one", config.dir)
    made = PromiseFile.create(path, owner, fsync=config.wal_fsync)
    if not marked:
        meta = _mark_promise(config, meta)
    return made, meta


def _mark_promise(config: Config, meta: dict[str, object]) -> dict[str, object]:
    meta = {**meta, "promise": True}
    _write_atomically(config.dir / "meta", cbor2.dumps(meta))
    return meta


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_suffix(".tmp")
    with open(temp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_listener(bind: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((bind, port))
    except OSError as error:
        listener.close()
        raise StartupError(f"cannot listen on {bind}:{port}: {error.strerror}") from None
    listener.listen(511)
    listener.setblocking(False)
    return listener


class Server:
    def __init__(self, config: Config) -> None:
        self.config = config
        table = build_table(CONNECTION)
        self.machine = StateMachine(table)
        if config.join:
            me = (
                Member.parse(config.name, config.advertise)
                if config.advertise
                else Member(config.name, config.bind, config.client_port, config.peer_port)
            )
            check_peer_link(config, [me])  # before joining
            self.lock_fd, self.meta = open_data_dir(config, None, joining=True)
            if not isinstance(self.meta.get("initial_cluster"), str):
                # A new node: become a learner through the seed, then keep what it said
                # (restarting with the same data directory does not join again).
                initial, joined_id = join_cluster(config)
                self.meta = {**self.meta, "cluster_id": joined_id, "initial_cluster": initial}
                _write_atomically(config.dir / "meta", cbor2.dumps(self.meta))
            config = replace(config, initial_cluster=str(self.meta["initial_cluster"]))
            self.members, _ = cluster_members(config)
            check_peer_link(config, self.members.values())
        else:
            self.members, cluster_id = cluster_members(config)
            if config.initial_cluster:
                check_peer_link(config, self.members.values())
            self.lock_fd, self.meta = open_data_dir(config, cluster_id)
        self.cluster_id = str(self.meta["cluster_id"])
        self.config = config
        promise, self.meta = open_promise(config, self.meta)
        wal = WriteAheadLog(
            config.dir / "wal", fsync=config.wal_fsync, segment_bytes=config.segment_bytes
        )
        tick = config.heartbeat_ms / 1000
        node_config = NodeConfig(
            name=config.name,
            expire_interval=1 / config.hz,
            tick_seconds=tick,
            election_ticks=max(3, round(config.election_ms / config.heartbeat_ms)),
            heartbeat_ticks=1,
            write_timeout=config.write_timeout_ms / 1000,
            read_timeout=config.read_timeout_ms / 1000,
            snapshot_dir=Path(config.dir) / "snapshots",
            snapshot_entries=config.snapshot_entries,
            snapshot_bytes=config.snapshot_bytes,
            catch_up_entries=config.snapshot_catchup_entries,
            # A write must fit one peer frame (a node alone has no peer link).
            max_entry_bytes=config.cluster_max_frame - FRAME_OVERHEAD
            if config.initial_cluster
            else 0,
        )
        self.node = RaftNode(self.machine, wal, node_config, self.members)
        self.node.cluster_id = self.cluster_id
        self.node.promise = promise
        self.node.accept_data_loss = config.accept_data_loss
        self.node.initial_cluster = config.initial_cluster
        self.node.membership.removed = bool(self.meta.get("removed"))
        self.node.membership.on_removed = self._record_removal
        self.transport: PeerTransport | None = None
        self.state = ServerState(config, table, self.machine, self.node)
        self.machine.users.on_removed = partial(close_clients_of, self.state)
        self.machine.users.on_changed = partial(close_unpermitted_subscribers, self.state)
        try:
            self.startup_users = startup_users(self.state)
        except AclFileError as error:
            raise StartupError(f"--aclfile {config.aclfile}: {error}") from None
        if self.startup_users is not None:
            provisional = Users(self.machine.users.catalog)
            provisional.replace(self.startup_users, bootstrap=False)
            self.state.provisional_users = provisional
        try:
            self.tls_context = server_context(tls_settings(config)) if config.tls_port else None
        except TlsConfigError as error:
            raise StartupError(str(error)) from None
        self.dispatcher = Dispatcher(self.state)
        self.flush_queue = FlushQueue()
        self.node.after_apply = self.flush_queue.flush
        self.node.deliver_messages = self.state.pubsub.deliver
        tracking = self.state.tracking
        tracking.session_of = lambda: self.node.proposals.session
        tracking.activate = self._track_writes
        self.node.expiry.paused = lambda: self.state.pause.expiry_paused
        self.state.monitors.activate = self._monitor_scripts
        self.shutdown = trio.Event()
        self.state.request_shutdown = self.shutdown.set
        self.port = config.port
        self._accepting = True
        self._clients_gone = trio.Event()  # set when the last client left, once stopping

    def _track_writes(self, on: bool) -> None:
        """A client of this node started tracking keys (or none is left): the node hands
        the keys each entry touched to the tracking table (or nothing, at no cost)."""
        self.node.invalidate_keys = self.state.tracking.invalidate if on else None

    def _monitor_scripts(self, on: bool) -> None:
        """A client of this node started MONITOR (or none is left): scripts' commands are
        noted, and those of this node's own clients' entries shown as `lua` lines."""
        self.machine.scripting.calls = [] if on else None
        self.node.script_calls = self._show_script_calls if on else None

    def _show_script_calls(self, applied: Applied, calls: list[tuple[int, list[bytes]]]) -> None:
        session = applied.session
        if calls and session is not None and session.id == self.node.proposals.session:
            self.state.monitors.feed_script(calls)

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        listeners: list[tuple[socket.socket, ssl.SSLContext | None]] = []
        try:
            if config.port or not config.tls_port:  # (port 0 alone: any free port, for tests)
                listeners.append((open_listener(config.bind, config.port), None))
                self.port = self.state.tcp_port = listeners[0][0].getsockname()[1]
                log.info("Concord %s listening on %s:%d", self._version(), config.bind, self.port)
            if config.tls_port:
                listener = open_listener(config.bind, config.tls_port)
                listeners.append((listener, self.tls_context))
                self.state.tls_port = listener.getsockname()[1]
                if not listeners[:-1]:
                    self.port = self.state.tls_port  # TLS only
                log.info("TLS on %s:%d", config.bind, self.state.tls_port)
            if config.metrics_port:  # the last: served by `serve_metrics`, not accepted from
                listeners.append((open_listener(config.bind, config.metrics_port), None))
                log.info("metrics on http://%s:%d/metrics", config.bind, config.metrics_port)
        except StartupError:
            for listener, _ in listeners:
                listener.close()
            raise
        try:
            async with trio.open_nursery() as root:
                root.start_soon(self._watch_signals)
                clients = listeners[:-1] if config.metrics_port else listeners
                if config.metrics_port:
                    root.start_soon(serve_metrics, listeners[-1][0], self._render_metrics)
                node_scope = trio.CancelScope()
                async with trio.open_nursery() as connections:
                    for listener, context in clients:
                        connections.start_soon(self._accept_loop, listener, connections, context)
                    task_status.started(self.port)
                    try:
                        await self.node.load()
                    except BrokenPromiseError as error:
                        raise StartupError(f"{error}. {self._damage_advice()}") from None
                    # What the replay built (log entries, keys) lives as long as the process:
                    # take it out of the cycle collector's full passes (see cli.server_main).
                    gc.collect()
                    gc.freeze()
                    if self.config.initial_cluster:
                        await root.start(self._run_transport)
                    root.start_soon(self._run_node, node_scope)
                    root.start_soon(self._sample_ops)
                    root.start_soon(self._watch_limits)
                    if self.startup_users is not None:
                        root.start_soon(self._bootstrap_users, self.startup_users)
                    log.info("ready to accept connections")
                    await self.shutdown.wait()
                    await self._hand_over_leadership()
                    log.info("shutting down: finishing in-flight commands")
                    for listener, _ in clients:  # (metrics are served until the end)
                        trio.lowlevel.notify_closing(listener)
                        listener.close()
                    self._stop_connections()
                    with trio.move_on_after(self.config.shutdown_timeout) as grace:
                        if len(self.state.clients):
                            await self._clients_gone.wait()
                    if grace.cancelled_caught:
                        log.warning(
                            "clients still busy after %.0f s: closing them",
                            self.config.shutdown_timeout,
                        )
                    connections.cancel_scope.cancel()
                node_scope.cancel()
                root.cancel_scope.cancel()
        finally:
            for listener, _ in listeners:
                listener.close()
            self.node.close()
            os.close(self.lock_fd)
            log.info("log flushed and closed; bye")

    def _render_metrics(self) -> str:
        return render_metrics(self.state)

    def _damage_advice(self) -> str:
        name = self.config.name
        if not self.config.initial_cluster:
            return (
                "Start with --accept-data-loss to run with what is left: those writes are"
                " then lost for good"
            )
        return (
            "A cluster member must not vote or acknowledge with this log: it could help the"
            " cluster lose committed writes. Remove it from the cluster through a live member"
            f" (concord -p PORT remove {name}), then add a new node in its place: an empty"
            " data directory, a new --name and --join (a live member's host:port); it"
            " catches up from the leader. Only if the other members lost data too, start"
            " this one with --accept-data-loss"
        )

    def _version(self) -> str:
        from .. import __version__

        return __version__

    def _stop_connections(self) -> None:
        """Idle connections close now; busy ones finish their batch first (see connection)."""
        self._accepting = False
        for client in self.state.clients:
            client.stop_requested = True
            idle = not client.busy and not client.replies_owed()
            # A blocked client would wait on (BLPOP 0), a paused one until the pause ends:
            # its wait ends with the connection (a held command is not run).
            waits = client.blocking is not None or client.paused
            if (idle or waits) and client.cancel is not None:
                client.cancel()

    async def _run_node(self, scope: trio.CancelScope) -> None:
        with scope:
            await self.node.run(self.transport)

    async def _run_transport(self, *, task_status: trio.TaskStatus[int]) -> None:
        config = self.config
        members = self.node.members  # the founding members and those the log added
        me = members.get(config.name) or Member(
            config.name, config.bind, config.client_port, config.peer_port
        )
        peers = {
            name: (member.host, member.cluster_port)
            for name, member in members.items()
            if name != config.name
        }
        self.transport = open_transport(
            config, self.cluster_id, peers, self.node.deliver, self.node.link_changed
        )
        # The port in --initial-cluster is where the others reach us; --cluster-port, if given,
        # is where we listen (they differ when something, like a test's proxy, sits between).
        host, listen = listen_host(config), config.cluster_port or me.cluster_port
        log.info("Raft peer link on %s:%d; members %s", host, listen, ", ".join(sorted(members)))
        await self.transport.serve(host, listen, task_status=task_status)

    async def _sample_ops(self) -> None:
        while True:
            self.state.sample_ops()
            await trio.sleep(0.1)

    async def _watch_limits(self) -> None:
        """maxmemory's sample of used_memory (every 100 ms while a maxmemory is set, every
        10 ms once within a tenth of it: each wake-up costs the event loop about 0.2 ms)
        and the clients cron (`limits`, every 100 ms while a client holds a buffer); asleep
        while there is neither."""
        state = self.state
        buffers = state.buffers
        next_cron = 0.0
        while True:
            maxmemory = state.settings.maxmemory
            if maxmemory:
                near = state.sample_used_memory() * 10 > maxmemory * 9
            elif not buffers.holders:
                buffers.wanted = trio.Event()
                await buffers.wanted.wait()  # (CONFIG SET maxmemory, or a client's buffer)
                continue
            else:
                near = False
            now = trio.current_time()
            if now >= next_cron:
                buffers.cron(state, now)
                next_cron = now + 0.1
            await trio.sleep(0.01 if near else 0.1)

    async def _bootstrap_users(self, users: list[tuple[bytes, list[bytes]]]) -> None:
        """Propose this node's start-up users until the cluster's users are set (by this
        entry, another node's, or ACL commands: the first applied wins), then check the
        connections authenticated meanwhile against them."""
        replicated = self.machine.users
        while not replicated.configured:
            proposal = Proposal(OP_SET_USERS, 0, users, reason=USERS_BOOTSTRAP)
            self.node.submit(proposal)
            await proposal.wait()
            if not replicated.configured:
                await trio.sleep(1.0)  # no quorum yet: the proposal timed out
        provisional, self.state.provisional_users = self.state.provisional_users, None
        for client in self.state.clients:
            if client.user is None:
                continue
            user = replicated.get(client.user.name)
            if user is None:
                close_clients_of(self.state, [client.user.name])
            else:
                client.user = user
        if provisional is not None and _describe_all(provisional) != _describe_all(replicated):
            log.warning(
                "the cluster's ACL users differ from this node's start-up users (--aclfile or"
                " --requirepass); the cluster's apply on every node (ACL LOAD loads the file)"
            )

    def _record_removal(self) -> None:
        """Remember in the data directory that this node was removed (it may not have the
        log entry that says so)."""
        self.meta = {**self.meta, "removed": True}
        _write_atomically(self.config.dir / "meta", cbor2.dumps(self.meta))

    async def _hand_over_leadership(self) -> None:
        """A leader shutting down first hands leadership to the most up-to-date voter, so a
        planned restart costs the cluster no election timeout."""
        node = self.node
        if not node.is_leader or len(node.refresh_status().voters) < 2:
            return
        if not node.admin.connected_voters():
            log.info("no other voter is connected: shutting down without handing over leadership")
            return
        try:
            new = await node.transfer_leadership()
        except ClusterError as error:
            log.warning("could not hand over leadership: %s", error.message.decode())
        else:
            log.info("handed leadership to %s before shutting down", new)

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                if self.shutdown.is_set():
                    log.warning("second signal (%s): exiting now", signal.Signals(signum).name)
                    os._exit(1)
                log.info("received %s", signal.Signals(signum).name)
                self.shutdown.set()

    async def _accept_loop(
        self, listener: socket.socket, nursery: trio.Nursery, tls: ssl.SSLContext | None
    ) -> None:
        state = self.state
        clients = state.clients
        while self._accepting:
            try:
                await trio.lowlevel.wait_readable(listener)
            except trio.ClosedResourceError:
                return
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as error:
                if error.errno in (errno.EMFILE, errno.ENFILE):
                    log.warning("accept: %s; pausing new connections briefly", error.strerror)
                    await trio.sleep(0.1)
                    continue
                raise
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if len(clients) >= state.settings.maxclients:
                state.metrics.connections_rejected += 1
                nursery.start_soon(_refuse, sock)
                continue
            users = state.users()
            protected = state.settings.protected_mode and users.default.nopass
            if protected and not is_loopback(address[0]):
                state.metrics.connections_rejected += 1
                nursery.start_soon(_refuse, sock, PROTECTED_MODE_DENIED)
                continue
            local = sock.getsockname()
            client = ClientState(
                id=clients.next_id(),
                addr=f"{address[0]}:{address[1]}",
                laddr=f"{local[0]}:{local[1]}",
                fd=sock.fileno(),
                user=users.default,
                authenticated=not users.auth_required(),
            )
            clients.add(client)
            state.metrics.connections_received += 1
            nursery.start_soon(self._run_connection, sock, client, nursery, tls)

    async def _run_connection(
        self,
        sock: socket.socket,
        client: ClientState,
        nursery: trio.Nursery,
        tls_context: ssl.SSLContext | None,
    ) -> None:
        scope = trio.CancelScope()
        client.cancel = scope.cancel
        try:
            with scope:
                tls = None
                if tls_context is not None:
                    tls = TlsSocket(sock, tls_context)
                    if not await _handshake(tls, client):
                        return
                await serve_connection(
                    self.state, self.dispatcher, sock, client, nursery, self.flush_queue, tls
                )
        except Exception:
            # A bug met while serving this client must not end the server (serve_connection
            # tells the client); only this connection closes.
            log.exception("internal error serving client id=%d addr=%s", client.id, client.addr)
        finally:
            self.state.clients.remove(client)
            sock.close()
            if not self._accepting and not len(self.state.clients):
                self._clients_gone.set()


PROTECTED_MODE_DENIED: Final = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no"
    b" password is set for the default user. In this mode connections are only accepted from"
    b" the loopback interface. If you want to connect from external computers to Redis you"
    b" may adopt one of the following solutions: 1) Just disable protected mode sending the"
    b" command 'CONFIG SET protected-mode no' from the loopback interface by connecting to"
    b" Redis from the same host the server is running, however MAKE SURE Redis is not"
    b" publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change"
    b" permanent. 2) Alternatively you can just disable the protected mode by editing the"
    b" Redis configuration file, and setting the protected mode option to 'no', and then"
    b" restarting the server. 3) If you started the server manually just for testing, restart"
    b" it with the '--protected-mode no' option. 4) Setup a an authentication password for the"
    b" default user. NOTE: You only need to do one of the above things in order for the server"
    b" to start accepting connections from the outside.\r\n"
)


async def _handshake(tls: TlsSocket, client: ClientState) -> bool:
    """A TLS client's handshake, bounded in time; False (logged) if it fails."""
    with trio.move_on_after(HANDSHAKE_TIMEOUT):
        try:
            await tls.handshake()
        except OSError as error:  # (ssl.SSLError is one)
            log.info("TLS handshake with %s failed: %s", client.addr, error)
            return False
        return True
    log.info("TLS handshake with %s timed out", client.addr)
    return False


def _describe_all(users: Users) -> list[bytes]:
    return [user_line(users.by_name[name], users.catalog) for name in users.names()]


async def _refuse(
    sock: socket.socket, message: bytes = b"-ERR max number of clients reached\r\n"
) -> None:
    try:
        await send_all(sock, message)
    except OSError:
        pass
    finally:
        sock.close()
