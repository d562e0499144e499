"""One component of a test cloud run as its own process, as `mallee up` runs
it, so the kill -9 suite can kill it for real and start it again.

The rest of the cloud stays in the test's process (tests/harness.py): only
the component under fault needs a pid of its own.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from mallee_cli.onehost import wait_healthy
from tests.harness import Cloud

DEATH_TIMEOUT = 60.0  # seconds a crash point may take to be reached after its trigger


class Component:
    def __init__(self, cloud: Cloud, name: str, settings=None):
        self.cloud = cloud
        self.name = name
        self.settings = settings or cloud.settings
        self.proc: subprocess.Popen | None = None
        self.log = Path(cloud.home) / f"{name}-process.log"

    def env(self, crash_at: str | None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLEE_")}
        env.update(self.cloud.env, MALLEE_HOME=str(self.cloud.home))
        if self.settings is not self.cloud.settings:  # a second node: its own name, port, dir
            env.update(MALLEE_NC_NAME=self.settings.nc.name,
                       MALLEE_NC_PORT=str(self.settings.nc.port),
                       MALLEE_NC_STATE_DIR=str(self.settings.nc.state_dir))
        if crash_at:
            env["MALLEE_CRASH_AT"] = crash_at
        return env

    def start(self, crash_at: str | None = None, timeout: float = 60.0) -> "Component":
        """Start and wait until it answers its health check (bounded)."""
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} still runs"
        with self.log.open("a") as out:
            out.write(f"--- start (crash at {crash_at or 'nothing'}) ---\n")
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mallee_cli", "serve", self.name, "--foreground-log"],
                env=self.env(crash_at), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        problem = self.cloud.run(wait_healthy(self.settings, self.name, self.proc.pid, timeout),
                                 timeout=timeout + 10)
        assert problem is None, f"{self.name} did not come up: {problem}\n{self.tail()}"
        return self

    def wait_polled(self, polls: int = 2, timeout: float = 60.0) -> None:
        """Until the CC's polls reached this NC since its last start (it answered them
        all): a launch sent earlier finds the node still unreachable and is refused."""
        def answered() -> int:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            return text.rpartition("--- start (")[2].count("/rpc/v1/describe_resource 200")
        assert self.cloud.wait_for(lambda: answered() >= polls, timeout=timeout, interval=0.2), (
            f"the CC's polls did not reach {self.name}\n{self.tail()}")

    def wait_killed(self, timeout: float = DEATH_TIMEOUT) -> None:
        """The crash point fired: the process died of SIGKILL, by its own hand."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} never reached its crash point\n{self.tail()}")
        assert code == -signal.SIGKILL, f"{self.name} exited with {code}\n{self.tail()}"
        assert "crash point" in self.tail(), self.tail()

    def kill(self) -> None:
        """kill -9 from outside, by the pid this test started."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
