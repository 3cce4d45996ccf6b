"""Starting and stopping a real ``campaign serve`` process for tests and
benchmarks: a free port chosen by the server (``--port 0``), read from the
line it prints when it listens; the process is ended by the caller."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

CLIENT_ID = "test-client"
CLIENT_SECRET = "s3cret-for-tests-only"
PROGRAM = Path(__file__).parent / "serve" / "webinar.campaign"


class Server:
    """A ``campaign serve`` subprocess; ``url`` once it listens."""

    def __init__(self, db: Path | None = None, *extra: str, program: Path = PROGRAM,
                 env: dict[str, str] | None = None):
        exe = Path(sys.executable).parent / "campaign"
        cmd = [str(exe) if exe.exists() else sys.executable, *(() if exe.exists() else ("-m", "campaignlang.cli")),
               "serve", str(program), "--port", "0", *extra]
        if db is not None:
            cmd += ["--db", str(db)]
        environ = dict(os.environ)
        environ.update({"CAMPAIGN_SERVE_CLIENT_ID": CLIENT_ID, "CAMPAIGN_SERVE_CLIENT_SECRET": CLIENT_SECRET})
        environ.update(env or {})
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=environ, text=True)
        self.stderr_lines: list[str] = []
        ready = threading.Event()
        self.url = ""

        def pump() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.stderr_lines.append(line)
                m = re.search(r"on (http://\S+) ", line)
                if m and not ready.is_set():
                    self.url = m.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(60) or not self.url:
            self.stop()
            raise RuntimeError("campaign serve did not start: " + "".join(self.stderr_lines))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def client(url: str, secret: str = CLIENT_SECRET) -> Any:
    """Marketo's Python client, unchanged but for its host."""
    from marketorestpython.client import MarketoClient

    mc = MarketoClient("unused-munchkin", CLIENT_ID, secret)
    mc.host = url
    return mc


def wait_until(pred: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.05)
