"""Running the real server on loopback, in a thread of the test process or as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import uvicorn
from sqlalchemy.engine import Engine

from syncmon.app import create_app
from syncmon.clock import Clock
from syncmon.settings import Settings

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn serving `create_app` on 127.0.0.1:<free port> in a background thread."""

    def __init__(
        self, settings: Settings, engine: Engine, clock: Clock | None = None, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.app = create_app(settings, engine, clock=clock)
        self.loop: asyncio.AbstractEventLoop | None = None
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            proxy_headers=False,
            access_log=False,
            lifespan="on",
            # Open event streams (a page's /live) would hold shutdown for their whole
            # lifetime; past this they are cancelled, as `syncmon serve` does after 10 s.
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve()

        asyncio.run(serve())

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        if self.thread.is_alive():  # it would go on using the store the test is about to drop
            raise RuntimeError("live server did not shut down within 30 s")

    @property
    def services(self) -> Any:
        return self.app.state.services

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def call(self, work: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run `work` on the server's event loop and wait for its result (e.g. a dispatcher
        tick right after the test moved a ManualClock)."""
        assert self.loop is not None, "the server is not running"
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)


def run_cli(env: dict[str, str], *args: str) -> str:
    """`syncmon <args>` as a child process with `env` added; its standard output, once it
    exited with 0 (else the test fails with its standard error)."""
    done = subprocess.run(
        [sys.executable, "-m", "syncmon.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


class ServerProcess:
    """`syncmon serve` as a child process, for tests that kill or restart it."""

    def __init__(self, env: dict[str, str], port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.env = {
            **os.environ,
            **env,
            "SYNCMON_PORT": str(self.port),
            "SYNCMON_HOST": "127.0.0.1",
        }
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "syncmon.cli", "serve"], env=self.env, stdout=out, stderr=out
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()  # the child has its own copy; ours would leak (ResourceWarning)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("server did not become healthy")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
