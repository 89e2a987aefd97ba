"""Replay protection, the rate limit and disabling a key hold across processes: two real servers on one
database (an SQLite file, PostgreSQL) behave as one service. Per-process memory would let a replay through
the other server and let N servers pass N times the rate; these tests fail that way."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from scp_images.config import Settings
from tests.processes.conftest import StartServers, error_code, make_key, signed
from tests.support.process import ServerProcess, settings_env
from tests.support.tools import wait_until

ROUNDS = 8
RATE = 4.0
HAMMER_SECONDS = 8.0


def _client() -> httpx.Client:
    return httpx.Client(timeout=30, trust_env=False)


def test_a_signature_accepted_by_one_server_is_refused_by_the_other(
    shared_settings: Settings, start_servers: StartServers
) -> None:
    settings = shared_settings.model_copy(update={"replay_protection": True})
    first, second = start_servers(settings, 2)
    key = make_key(settings)
    with _client() as http:
        for n, (one, other) in enumerate(((first, second), (second, first)), start=1):
            path, headers = signed("GET", "/v1/images", key, limit=str(n))
            accepted = http.get(one.base_url + path, headers=headers)
            replayed = http.get(other.base_url + path, headers=headers)
            again = http.get(one.base_url + path, headers=headers)
            assert accepted.status_code == 200, accepted.text
            for refused in (replayed, again):
                assert refused.status_code == 401, refused.text
                assert error_code(refused) == "virtualserver.auth.Unauthenticated"
                assert "already used" in refused.json()["errors"][0]["detail"]


def test_one_signature_sent_to_both_servers_at_once_passes_once(
    shared_settings: Settings, start_servers: StartServers
) -> None:
    settings = shared_settings.model_copy(update={"replay_protection": True})
    servers = start_servers(settings, 2)
    key = make_key(settings)
    barrier = threading.Barrier(2)
    clients = [_client() for _ in servers]

    def send(index: int, path: str, headers: list[tuple[str, str]]) -> int:
        barrier.wait(timeout=30)
        return clients[index].get(servers[index].base_url + path, headers=headers).status_code

    try:
        for client, server in zip(clients, servers, strict=True):  # warm: connections open, keys cached
            assert client.get(server.base_url + "/healthz").status_code == 200
        with ThreadPoolExecutor(2) as pool:
            for round_ in range(ROUNDS):
                path, headers = signed("GET", "/v1/images", key, limit=str(round_ + 1))
                statuses = sorted(pool.map(send, (0, 1), (path, path), (headers, headers)))
                assert statuses == [200, 401], (round_, statuses)
    finally:
        for client in clients:
            client.close()


def test_the_rate_limit_holds_across_servers(shared_settings: Settings, start_servers: StartServers) -> None:
    """Four clients hammer one key through three processes (``serve --workers 2`` and one more ``serve``):
    at most 1.2x the rate gets through in all."""
    settings = shared_settings.model_copy(update={"rate_limit": RATE})
    servers = start_servers(settings, 1, "--workers", "2") + start_servers(settings, 1)
    key = make_key(settings)
    statuses: list[int] = []
    lock = threading.Lock()

    def hammer(index: int) -> None:
        server = servers[index % len(servers)]
        with _client() as http:
            while time.monotonic() < deadline:
                path, headers = signed("GET", "/v1/images", key, limit=str(index + 1))
                response = http.get(server.base_url + path, headers=headers)
                if response.status_code == 429:
                    assert error_code(response) == "virtualserver.request.RateLimited", response.text
                    assert int(response.headers["Retry-After"]) >= 1
                with lock:
                    statuses.append(response.status_code)

    started = time.monotonic()
    deadline = started + HAMMER_SECONDS
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(hammer, range(4)))
    elapsed = time.monotonic() - started
    passed, limited = statuses.count(200), statuses.count(429)
    assert passed + limited == len(statuses), sorted(set(statuses))
    assert limited > 0, (passed, limited)  # the clients asked for more than the rate
    assert passed <= 1.2 * RATE * elapsed, (passed, limited, elapsed)


def test_a_disabled_key_stops_working_on_every_server_within_the_key_cache_time(
    shared_settings: Settings, start_servers: StartServers
) -> None:
    servers = start_servers(shared_settings, 2)
    key = make_key(shared_settings)
    ttl = shared_settings.key_cache_seconds
    with _client() as http:

        def status(server: ServerProcess) -> int:
            path, headers = signed("GET", "/v1/images", key)
            return http.get(server.base_url + path, headers=headers).status_code

        assert [status(server) for server in servers] == [200, 200]  # both have the key cached now
        env = settings_env(shared_settings)
        disable = [sys.executable, "-m", "scp_images.cli", "admin", "key", "disable", key.access_key]
        subprocess.run(disable, env=env, check=True, capture_output=True, timeout=120)
        # the margin is for request latency on a loaded machine, not for the cache
        wait_until(
            lambda: all(status(server) == 401 for server in servers),
            what="every server refusing the disabled key",
            timeout=ttl + 5.0,
        )
        assert [status(server) for server in servers] == [401, 401]
