"""The README's ``make demo`` in a clean copy of the repository, judged by its summary.

The copy holds what git would check out (tracked and unignored files) and borrows this
checkout's virtualenv through a ``.venv`` symlink; ``make -o .venv/.installed`` tells make that
the venv is installed, so the shared venv is never rebuilt or touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from qx.embedded import EmbeddedNatsServer
from qxgen.commands._running import process_command
from tests.cli.conftest import EXAMPLE, REPO

pytestmark = pytest.mark.nats


def clean_copy(dst: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        src = REPO / name
        if src.is_file():  # deleted files and submodule entries are skipped
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    (dst / ".venv").symlink_to(REPO / ".venv")
    return dst


def test_make_demo_in_a_clean_copy(tmp_path: Path) -> None:
    copy = clean_copy(tmp_path / "qx")
    done = subprocess.run(
        ["make", "-o", ".venv/.installed", "demo"],
        cwd=copy,
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Traceback" not in out + done.stderr

    schemas = sorted((EXAMPLE / "shop_service" / "integration" / "event_schemas").glob("*.json"))
    published = len(schemas) + 1  # one example per event + the CHF capture the ledger rejects
    handled = len(schemas) - 1  # every handler but the payment-failed stub
    assert "qxgen generate: examples/shop_service is up to date" in out
    assert f"Handled: {handled} of {published} events" in out
    assert "Retried: payments.payment.captured v1 2 time(s), backoff delays 0.20s, 0.40s" in out
    assert re.search(
        r"Dead-lettered: payments\.payment\.captured v1 after 3 deliveries: "
        r"max_deliver_exceeded:handler_failed: ledger for CHF is unavailable",
        out,
    ), out
    assert re.search(
        r"Dead-lettered: payments\.payment\.failed v1 after 1 delivery: "
        r"non_retryable:handler_failed: handler for payments\.payment\.failed v1 is not "
        r"implemented yet",
        out,
    ), out
    assert "DLQ stream QX_DLQ: 2 record(s)" in out
    assert f"joined the producer's trace for {published} of {published} events" in out
    # Piped at 80 columns, the summary is one block per event: nothing cut, nothing crushed.
    # Every event carries its correlation id and a real (non-zero) W3C trace id, whole.
    correlations = re.findall(r"^  Correlation id  (demo-[0-9a-f]{8})$", out, re.M)
    traces = re.findall(r"^  Trace id        ([0-9a-f]{32})$", out, re.M)
    assert len(correlations) == len(traces) == published, out
    assert "0" * 32 not in traces
    assert re.search(r"^payments\.payment\.captured v1 \(CHF\)$", out, re.M), out
    summary = out[out.index("What happened") : out.index("Handled:")]
    assert max(len(line) for line in summary.splitlines()) <= 80, summary
    assert "qxgen dlq list --url nats://127.0.0.1:4222" in out
    assert "worker and nats-server stopped" in out

    # It ran the copy's code (its store is in the copy) and left no server behind.
    store = copy / ".qx" / "demo"
    assert (store / "jetstream").is_dir()
    pid = EmbeddedNatsServer(store).running_pid()
    assert pid is None or process_command(pid) is None
    # The handlers it relies on are scaffold files: the example is still what qxgen generates.
    manifest = json.loads((EXAMPLE / "shop_service/integration/qxgen-manifest.json").read_text())
    assert "shop_service/handlers/payment_captured_v1.py" in manifest["scaffold"]
