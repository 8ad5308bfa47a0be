"""Private PostgreSQL, Redis and HAProxy servers for the tests that need real ones.

Each runs from a temporary directory on a free loopback port and is gone at the end of the
session: nothing here touches a server the machine may already run, and nothing listens beyond
127.0.0.1. PostgreSQL refuses to run as root, so as root its commands run as the ``postgres``
user that Debian's package creates. A missing binary skips the tests that need it on a
developer's machine, but fails them under CI (``CI`` set), where ``scripts/test`` installs the
packages: a scale-out test must never pass by not running.

The fault tests stop, restart or kill a server mid-test through the handles' methods.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

from collector import config

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def missing(what: str) -> NoReturn:
    """Skip the test, or fail it under CI, where every service must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (scripts/test installs it; under CI these tests must run)", pytrace=False)
    pytest.skip(what)


def find_binary(name: str, candidates: Sequence[str] = ()) -> str | None:
    """The first of ``candidates`` (glob patterns, newest version first) that exists, else ``name`` on PATH."""
    for pattern in candidates:
        for path in sorted(glob.glob(pattern), reverse=True):
            if os.access(path, os.X_OK):
                return path
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


def wait_for_port(port: int, timeout: float, alive: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            if alive is not None and alive.poll() is not None:
                raise RuntimeError(f"the server on port {port} exited with {alive.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {LOOPBACK}:{port} after {timeout} s") from None
            time.sleep(0.05)


# ── PostgreSQL ──────────────────────────────────────────────────────────────────────────────


class PostgresServer:
    """A throw-away cluster: ``initdb`` with trust authentication, durability off for speed."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="crumbless-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"
        )
        options = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "log_min_messages": "warning",
        }
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{key} = '{value}'\n" for key, value in options.items())

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        return done

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{database}"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        wait_for_port(self.port, 30)

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends sessions and shuts down cleanly; ``immediate`` is a crash (recovery at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def execute(self, sql: str, database: str = "postgres") -> None:
        """One statement outside a transaction (CREATE and DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=10) as db:
            db.execute(sql.encode())

    def create_database(self) -> str:
        name = f"crumbless_{uuid.uuid4().hex[:16]}"
        self.execute(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def postgres_bindir() -> Path | None:
    initdb = find_binary("initdb", ("/usr/lib/postgresql/*/bin/initdb",))
    return None if initdb is None else Path(os.path.realpath(initdb)).parent


def start_postgres() -> PostgresServer:
    bindir = postgres_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        missing("PostgreSQL's initdb and pg_ctl are not installed (Debian package: postgresql)")
    server = PostgresServer(bindir)
    try:
        server.start()
    except BaseException:
        print(server.log.read_text(errors="replace") if server.log.exists() else "(no server log)")
        server.remove()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A database of its own for each test, dropped after it."""
    if not postgres_server.running():
        postgres_server.start()  # a fault test before this one may have left it stopped
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        if not postgres_server.running():
            postgres_server.start()
        postgres_server.drop_database(name)


def postgres_settings(url: str, data_dir: Path, **overrides: str) -> config.Settings:
    """Default settings for a deployment whose store is the PostgreSQL database at ``url``."""
    env = {"CRUMBLESS_DATA_DIR": str(data_dir), "CRUMBLESS_DATABASE_URL": url, "CRUMBLESS_ACCESS_LOG": "off"}
    env.update({f"CRUMBLESS_{k.upper()}": v for k, v in overrides.items()})
    return config.load(env)


# ── Redis ───────────────────────────────────────────────────────────────────────────────────


class RedisServer:
    """``redis-server`` with persistence off, as scale-out mode requires of it."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="crumbless-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        command = [
            self.binary, "--port", str(self.port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
            "--dir", str(self.root), "--daemonize", "no", "--logfile", str(self.root / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(command, cwd=self.root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            wait_for_port(self.port, 20, self.proc)
            deadline = time.monotonic() + 20
            while self.command("PING") != "+PONG":  # it accepts before it has loaded
                if time.monotonic() > deadline:
                    raise TimeoutError("redis-server does not answer PING")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Gone at once by default, as a crashed or unreachable Redis is."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pause(self) -> None:
        """Unreachable but not gone (SIGSTOP): clients time out, and what it holds is still there after ``resume``."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def command(self, *words: str) -> str:
        """One command in Redis's inline protocol, its first reply line back (no client library needed)."""
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=5) as sock:
                sock.sendall(" ".join(words).encode() + b"\r\n")
                reply = b""
                while not reply.endswith(b"\r\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
                return reply.split(b"\r\n", 1)[0].decode(errors="replace")
        except OSError as exc:
            return f"-{exc}"

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_redis() -> RedisServer:
    binary = find_binary("redis-server")
    if binary is None:
        missing("redis-server is not installed (Debian package: redis-server)")
    server = RedisServer(binary)
    try:
        server.start()
    except BaseException:
        server.remove()
        raise
    return server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test (and started again if a fault test left it stopped)."""
    redis_server.start()
    if redis_server.command("FLUSHALL") != "+OK":
        raise RuntimeError("FLUSHALL failed")
    return redis_server.url


# ── HAProxy ─────────────────────────────────────────────────────────────────────────────────


class HAProxy:
    def __init__(self, proc: subprocess.Popen[bytes], root: Path, port: int) -> None:
        self.proc, self.root, self.port = proc, root, port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def log(self) -> str:
        path = self.root / "haproxy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> HAProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def haproxy_config(backends: Sequence[int], port: int, health: str | None = "/healthz") -> str:
    """Round robin over the loopback backends, adding X-Forwarded-For as a real proxy does.

    With ``health`` a backend is checked every half second and taken out after two failures, and
    a request refused by a dead one is sent to another, which is what the failover tests rely on.
    Every request and every change of a backend's state is logged to ``haproxy.log`` (its timings
    and termination flags say which side stalled when a test sees an answer it did not expect).
    """
    check = " check inter 500ms fall 2 rise 1" if health else ""
    lines = [
        "global",
        "    maxconn 512",
        "    log stdout format raw local0",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    option forwardfor",
        "    option redispatch",
        "    retries 2",
        "    timeout connect 1s",
        "    timeout client 10s",
        "    timeout server 10s",
        "    timeout http-request 5s",
        "frontend crumbless",
        f"    bind {LOOPBACK}:{port}",
        "    default_backend collectors",
        "backend collectors",
        "    balance roundrobin",
    ]
    if health:
        lines.append(f"    option httpchk GET {health}")
    lines += [f"    server c{i} {LOOPBACK}:{backend}{check}" for i, backend in enumerate(backends)]
    return "\n".join(lines) + "\n"


def start_haproxy(backends: Sequence[int], port: int | None = None, health: str | None = "/healthz") -> HAProxy:
    """``haproxy`` in the foreground (``-db``) in front of ``backends``; ``stop()`` ends it."""
    binary = find_binary("haproxy")
    if binary is None:
        missing("haproxy is not installed (Debian package: haproxy)")
    port = free_port() if port is None else port
    root = Path(tempfile.mkdtemp(prefix="crumbless-haproxy-"))
    config = root / "haproxy.cfg"
    config.write_text(haproxy_config(backends, port, health), encoding="utf-8")
    with open(root / "haproxy.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, "-f", str(config), "-db"], cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, 20, proc)
    except BaseException:
        HAProxy(proc, root, port).stop()
        raise
    return HAProxy(proc, root, port)
