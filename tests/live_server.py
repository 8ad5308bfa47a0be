"""A real ``crumbless`` process for end-to-end tests: the CLI, ``serve`` on a loopback port, logs in files.

In-process tests (``tests/conftest.py``) cannot show what the shipped command writes to its
terminal or how it behaves on a signal; these helpers run the actual program, with its own
logging set-up and uvicorn, and keep everything it prints so a test can search it afterwards.
Every server binds 127.0.0.1 only and is killed in teardown whatever happened.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


def crumbless_command() -> list[str]:
    """The installed ``crumbless`` script next to this interpreter, else ``python -m collector.cli``.

    The fallback runs the same ``main()``; it exists because a virtualenv where the project was
    never ``pip install``-ed has no console script, and the tests should still exercise the code.
    """
    script = Path(sys.executable).parent / "crumbless"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "collector.cli"]


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


EVERY_CELL_KEPT = {"segment_min_visitors": "1"}
"""Settings under which no small segment cell is folded (k = 1), for tests that compare one run's
rows with another's: when a closed day's cells fold hangs on when housekeeping ticks, and on whose
clock closed the day. Folding has tests of its own (tests/test_segment_fold.py)."""


def crumbless_env(data_dir: Path, geo_db: Path, **settings: str) -> dict[str, str]:
    """The parent's environment minus any ``CRUMBLESS_*`` (unknown names abort), plus ours.

    ``settings`` keys are the variable names without the prefix, e.g. ``flush_interval="1"``.
    The repository goes first on ``PYTHONPATH`` so the code under test is this checkout's.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRUMBLESS_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(
        CRUMBLESS_HOST=LOOPBACK,
        CRUMBLESS_PORT=str(free_port()),
        CRUMBLESS_DATA_DIR=str(data_dir),
        CRUMBLESS_GEO_DB=str(geo_db),
    )
    env.update({f"CRUMBLESS_{k.upper()}": v for k, v in settings.items()})
    return env


def run_cli(env: Mapping[str, str], *args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """One ``crumbless`` command that must succeed; its output is returned for parsing and searching."""
    done = subprocess.run(
        [*crumbless_command(), *args], env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        pytest.fail(f"`crumbless {' '.join(args)}` exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done


def add_site(env: Mapping[str, str], domain: str, cwd: Path) -> str:
    """``crumbless site add DOMAIN``; returns the website id it prints (for Umami bodies)."""
    out = run_cli(env, "site", "add", domain, cwd=cwd).stdout
    first = out.splitlines()[0] if out else ""
    marker = ", id "
    if marker not in first:
        pytest.fail(f"unexpected `site add` output: {out!r}")
    return first.split(marker, 1)[1].strip()


def stats(env: Mapping[str, str], site: str, cwd: Path) -> dict[str, Any]:
    """``crumbless stats SITE --json`` for today, parsed (a separate process, as an operator would run it)."""
    return json.loads(run_cli(env, "stats", site, "--json", "--limit", "100", cwd=cwd).stdout)


class LiveServer:
    """``crumbless serve`` as a child process with stdout and stderr captured to files.

    Each ``start`` writes to new files (``<name>-<n>.stdout`` / ``.stderr``) so a restart keeps
    the earlier run's output available for searching.
    """

    def __init__(
        self, env: Mapping[str, str], workdir: Path, name: str = "serve", keep_port: bool = False, args: Sequence[str] = ()
    ) -> None:
        self.env = dict(env)
        self.args = list(args)  # after ``serve``, e.g. ``--workers 2``
        self.workdir = workdir
        self.name = name
        self.keep_port = keep_port  # behind a load balancer, a restart comes back on its own port
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_files: list[Path] = []

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.env['CRUMBLESS_PORT']}"

    @property
    def stdout_path(self) -> Path:
        return self.log_files[-2]

    @property
    def stderr_path(self) -> Path:
        return self.log_files[-1]

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.log_files else ""

    def start(self, timeout: float = 20) -> None:
        """Start and wait until ``/healthz`` answers; a dead or silent server fails the test with its stderr."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("already running")
        self.runs += 1
        if not self.keep_port:
            self.env["CRUMBLESS_PORT"] = str(free_port())  # a restart must not race the old socket
        stem = self.workdir / f"{self.name}-{self.runs}"
        out, err = stem.with_suffix(".stdout"), stem.with_suffix(".stderr")
        self.log_files += [out, err]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [*crumbless_command(), "serve", *self.args],
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # a Ctrl-C at the pytest terminal must not reach it first
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=1.0) as http:
            while True:
                self.check_alive()
                try:
                    if http.get(f"{self.base_url}/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    pytest.fail(f"crumbless serve did not answer /healthz within {timeout}s\nstderr:\n{self.stderr_text()}")
                time.sleep(0.05)

    def check_alive(self) -> None:
        assert self.proc is not None
        code = self.proc.poll()
        if code is not None:
            pytest.fail(f"crumbless serve exited unexpectedly with {code}\nstderr:\n{self.stderr_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``sig`` and wait for the process to end; returns its exit status (negative: killed by a signal)."""
        assert self.proc is not None
        self.check_alive()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"crumbless serve did not stop within {timeout}s of {signal.Signals(sig).name}\nstderr:\n{self.stderr_text()}")
        return code

    def kill(self) -> None:
        """Teardown: SIGKILL the child (only ours, by its handle) if it is still running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def clean_exit_codes(sig: int) -> set[int]:
    """Exit statuses that mean "stopped gracefully because of ``sig``".

    ``crumbless serve`` returns 0, but uvicorn (>= 0.29) re-raises the captured signal after its
    graceful shutdown so the default action runs: SIGTERM then ends the process *by* SIGTERM
    (status -15 here, 143 in a shell) and SIGINT becomes KeyboardInterrupt, which the CLI turns
    into 130. The tests prove gracefulness by the final flush, not by the status alone.
    """
    if sig == signal.SIGINT:
        return {0, 130, -signal.SIGINT}
    return {0, -sig}
