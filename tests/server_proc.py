"""A real ContentHub server in a child process, for tests and benches that kill, signal or soak it.

Why a subprocess (not a thread like tests/browser.py): SIGKILL and SIGTERM must hit a process that is
only the server, and memory growth must be the server's own RSS. The server listens on loopback at a
free port, runs in its own session so a signal never reaches the test runner, and is always stopped by
its pid (never by name).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of a server on `data_dir`: no journey loop, a fixed session secret, the test model."""
    from contenthub.config import DEFAULT_MODEL_DIR

    model = os.environ.get("CONTENTHUB_TEST_MODEL") or str(DEFAULT_MODEL_DIR)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTENTHUB_")}
    env.update(
        {
            "CONTENTHUB_DATA_DIR": str(data_dir),
            "CONTENTHUB_MODEL_PATH": model,
            "CONTENTHUB_SESSION_SECRET": "server-proc",
            "CONTENTHUB_JOURNEYS_LOOP_SECONDS": "0",
            "PYTHONPATH": str(PROJECT_ROOT),
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
        }
    )
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    """`python -m uvicorn contenthub.asgi:app` (or any argv) on 127.0.0.1:<port>."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    env_extra: dict[str, str] = field(default_factory=dict)
    argv: list[str] | None = None
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return self.argv or [
            sys.executable,
            "-m",
            "uvicorn",
            "contenthub.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]

    def start(self, timeout: float = 120.0) -> ServerProcess:
        log = (self.log_path or self.data_dir.parent / f"server-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=PROJECT_ROOT,
            env=server_env(self.data_dir, **self.env_extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} while starting; see its log")
            try:
                if httpx.get(self.url + "/healthz", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not answer /healthz within {timeout:.0f} s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush — what a power cut or the OOM killer does."""
        if self.proc is not None and self.alive():
            os.kill(self.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (uvicorn's graceful shutdown); SIGKILL if it does not end in time."""
        if self.proc is None:
            return 0
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def rss_bytes(self) -> int:
        """Resident memory of the server process (Linux /proc), 0 when it is gone."""
        return self.memory().get("VmRSS", 0)

    def memory(self) -> dict[str, int]:
        """VmRSS split into RssAnon (heap: Python objects, SQLite page caches) and RssFile (mapped files,
        e.g. the mmap'd database), in bytes, plus the thread count; empty when the process is gone."""
        out: dict[str, int] = {}
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    out[key] = int(rest.split()[0]) * 1024
                elif key == "Threads":
                    out[key] = int(rest.split()[0])
        except OSError:
            pass
        return out
