"""The private test services (``tests/services.py``) start, answer, and survive a restart."""

from __future__ import annotations

import socket
import threading

import httpx
import psycopg

from tests.services import LOOPBACK, PostgresServer, RedisServer, free_port, start_haproxy


def test_each_test_gets_a_database_of_its_own(postgres_server: PostgresServer, postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as db:
        db.execute("CREATE TABLE t (n int)")
        name = db.execute("SELECT current_database()").fetchone()
    assert name is not None and name[0] != "postgres"


def test_postgres_comes_back_after_a_restart(postgres_server: PostgresServer, postgres_url: str) -> None:
    postgres_server.restart()
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT 1").fetchone() == (1,)


def test_redis_is_empty_for_each_test_and_keeps_nothing_on_disk(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_server.command("DBSIZE") == ":0"
    assert redis_server.command("SET", "k", "v") == "+OK"
    assert redis_server.command("CONFIG", "GET", "appendonly") == "*2"
    redis_server.stop()
    assert not redis_server.running()
    redis_server.start()
    assert redis_server.command("DBSIZE") == ":0"  # nothing persisted across the stop


def test_haproxy_spreads_requests_over_its_backends() -> None:
    seen: list[int] = []
    servers = []
    for _ in range(2):
        sock = socket.socket()
        sock.bind((LOOPBACK, free_port()))
        sock.listen()
        servers.append(sock)
    ports = [s.getsockname()[1] for s in servers]

    def answer(sock: socket.socket) -> None:
        conn, _ = sock.accept()
        with conn:
            request = conn.recv(65536)
            assert b"x-forwarded-for: 127.0.0.1" in request.lower()
            seen.append(sock.getsockname()[1])
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    threads = [threading.Thread(target=answer, args=(s,), daemon=True) for s in servers]
    for t in threads:
        t.start()
    with start_haproxy(ports, health=None) as proxy:
        for _ in range(2):
            assert httpx.get(proxy.url + "/", timeout=5).text == "ok"
    for t in threads:
        t.join(5)
    for s in servers:
        s.close()
    assert sorted(seen) == sorted(ports)
