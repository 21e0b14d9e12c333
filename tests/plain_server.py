"""A nats-server started with plain command-line flags (e.g. without JetStream)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

from qx.embedded import find_nats_server, free_port


def serve(*args: str) -> Iterator[str]:
    """Run ``nats-server -a 127.0.0.1 -p <free port> *args`` until the generator is closed;
    yields its URL once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen(
        [find_nats_server(), "-a", "127.0.0.1", "-p", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.02)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
