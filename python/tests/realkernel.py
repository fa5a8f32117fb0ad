"""The real Symphony kernel (``node dist/cli/main.js up``) on a temporary socket, for tests.

Not a stand-in: the kernel's own bus routes every call, so these tests fail when the kernel and
this library disagree about the wire protocol.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(PYTHON_DIR)
CLI = os.path.join(REPO, "dist", "cli", "main.js")
EXAMPLE = os.path.join(PYTHON_DIR, "examples", "wordcount_peer.py")


def require_kernel(test: unittest.TestCase | type[unittest.TestCase]) -> None:
    """A missing build fails under CI (the suite would prove nothing) and is a visible skip elsewhere."""
    if os.path.exists(CLI) and shutil.which("node"):
        return
    why = f"the kernel is not built ({CLI} is missing, or node is not on PATH): run npm run build"
    if os.environ.get("CI"):
        raise AssertionError(why)
    raise unittest.SkipTest(why)


class Kernel:
    """One ``symphony up`` on a config written to a temp folder; its output kept for failures."""

    def __init__(self, components: str, *, folder: str | None = None) -> None:
        self.dir = folder or tempfile.mkdtemp(prefix="symreal")
        self.socket = os.path.join(self.dir, "bus.sock")
        self.config = os.path.join(self.dir, "symphony.yaml")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write("components:\n")
            f.write(f"  bus: {{ use: builtin:bus, with: {{ listen: {self.socket} }} }}\n")
            f.write(components)
        # One log per Kernel: a second kernel in the same folder must not read the first one's "ready".
        self.log_path = tempfile.mktemp(prefix="kernel-", suffix=".log", dir=self.dir)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> "Kernel":
        env = {k: v for k, v in os.environ.items() if k not in ("SYMPHONY_BUS", "SYMPHONY_TOKEN", "SYMPHONY_TRANSPORT")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                ["node", CLI, "up", "-c", self.config, "--log", "plain", "--data", os.path.join(self.dir, "data")],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while "system ready" not in self.output():
            if self.proc.poll() is not None:
                raise AssertionError(f"the kernel exited with {self.proc.returncode} before it was ready:\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the kernel was not ready within {timeout}s:\n{self.output()}")
            time.sleep(0.05)
        return self

    @property
    def token(self) -> str:
        """The operator token the bus wrote beside its socket (re-read: a restart rewrites it)."""
        with open(self.socket + ".token", encoding="utf-8") as f:
            return f.read().strip()

    def output(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as an operator would; returns the kernel's exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the kernel did not stop within {timeout}s of SIGTERM:\n{self.output()}")
        return code

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
