"""Secrets never printed: the failing paths' whole output is searched for the secret."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from qx.cqrs import Mediator
from qx.embedded import free_port
from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings
from qx.exceptions import NatsAuthError
from qx.redact import redact, redact_url
from qx.worker import WorkerRuntime
from tests.security.servers import ConfServer, running

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "shop_service"
QXGEN = str(Path(sys.executable).parent / "qxgen")
SECRET = "Sup3r-s3cret-Pw"
TOKEN = "t0ken-Xq9-secret"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://alice:pw@h:4222", "nats://alice:***@h:4222"),
        ("nats://tok@h:4222", "nats://***@h:4222"),
        ("tls://a:b@h1:1,tls://c:d@h2:2", "tls://a:***@h1:1,tls://c:***@h2:2"),
        ("nats://h:4222", "nats://h:4222"),
        ("nats://u:p%40ss@h", "nats://u:***@h"),
        ("connect to nats://u:x@h failed", "connect to nats://u:***@h failed"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_scrubs_named_secrets_too() -> None:
    assert redact(f"bad token {TOKEN} at nats://x:{SECRET}@h", TOKEN) == (
        "bad token *** at nats://x:***@h"
    )


def test_settings_repr_and_str_hide_secrets() -> None:
    s = NatsSettings(url=f"nats://alice:{SECRET}@h:1", token=None)
    t = NatsSettings(url="nats://h:1", token=TOKEN)
    for text in (repr(s), str(s), repr(t), str(t), s.display_url):
        assert SECRET not in text
        assert TOKEN not in text


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[ConfServer]:
    config = (
        f'authorization {{ users = [{{user: alice, password: "{SECRET}"}}, '
        f'{{user: bob, password: "{TOKEN}"}}] }}'
    )
    with running(tmp_path / "auth", config) as server:
        yield server


class Started:
    """A ``qxgen`` process started now and awaited later, so a test's commands run side by
    side (each start imports the generator: seconds on a loaded machine)."""

    def __init__(self, args: tuple[str, ...], env: dict[str, str]) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "QX_"))}
        self.proc = subprocess.Popen(
            [QXGEN, *args],
            env={**clean, "COLUMNS": "80", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def wait(self) -> subprocess.CompletedProcess[str]:
        out, err = self.proc.communicate(timeout=60)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


def qxgen(*args: str, **env: str) -> Started:
    return Started(args, env)


def assert_clean(
    run: Started | subprocess.CompletedProcess[str], *secrets: str, code: int = 1
) -> str:
    result = run.wait() if isinstance(run, Started) else run
    out = result.stdout + result.stderr
    assert result.returncode == code, out
    for secret in secrets:
        assert secret not in out
    assert "Traceback" not in out
    return out


def test_cli_failing_paths_never_print_the_url_credentials() -> None:
    down = f"127.0.0.1:{free_port()}"
    cases = [
        ("dlq", "list", "--url", f"nats://alice:{SECRET}@{down}"),
        ("dlq", "show", "1", "--url", f"nats://{TOKEN}@{down}"),
        ("dlq", "purge", "--yes", "--url", f"nats://alice:{SECRET}@{down}"),
        ("publish", "orders.order.placed", "--example", "-C", str(EXAMPLE), "--url",
         f"nats://alice:{SECRET}@{down}"),
        ("dev", "-C", str(EXAMPLE), "--url", f"nats://alice:{SECRET}@{down}"),
    ]  # fmt: skip
    for run in [qxgen(*args) for args in cases]:
        out = assert_clean(run, SECRET, TOKEN)
        assert "cannot reach NATS at nats://" in out
        assert "***@" in out, out


def test_cli_refused_login_names_the_user_not_the_password(auth_server: ConfServer) -> None:
    url = f"nats://127.0.0.1:{auth_server.port}"
    flags = qxgen("dlq", "list", "--url", url, "--user", "alice", "--password", "nope-" + SECRET)
    env = qxgen("dlq", "list", "--url", url, NATS_USER="alice", NATS_PASSWORD="nope-" + SECRET)
    in_url = qxgen(
        "dlq", "list", "--url", f"nats://alice:nope-{SECRET}@127.0.0.1:{auth_server.port}"
    )
    token = qxgen("dlq", "list", "--url", url, NATS_TOKEN="nope-" + TOKEN)
    for result in (flags, env, in_url):
        out = assert_clean(result, SECRET, TOKEN)
        assert "refused the login as user 'alice'" in out
        assert "cannot reach" not in out
    assert "refused the login as a token" in assert_clean(token, SECRET, TOKEN)


def worker_for(url: str, tmp: str) -> WorkerRuntime:
    return WorkerRuntime(
        consumer=NatsConsumer(
            NatsSettings(url=url, connect_timeout=0.5),
            ConsumerSettings(stream="RED", durable=tmp, subjects=["red.>"]),
        ),
        registry=EventRegistry(),
        mediator=Mediator(),
    )


async def test_worker_logs_hide_the_url_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    worker = worker_for(f"nats://alice:{SECRET}@127.0.0.1:{free_port()}", "red")
    run = asyncio.create_task(worker.run())
    for _ in range(100):
        if "nats error (nats://alice:***@127.0.0.1" in caplog.text:
            break
        await asyncio.sleep(0.05)
    await worker.stop()
    await run
    assert "nats error (nats://alice:***@127.0.0.1" in caplog.text
    assert SECRET not in caplog.text


async def test_worker_refused_login_fails_fast_naming_the_user(
    auth_server: ConfServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"nats://alice:nope-{SECRET}@127.0.0.1:{auth_server.port}"
    with pytest.raises(NatsAuthError) as caught:
        await asyncio.wait_for(worker_for(url, "red").run(), 10)
    assert "refused the login as user 'alice'" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text


def test_cli_denied_permission_is_named(tmp_path: Path) -> None:
    config = (
        f'authorization {{ users = [{{user: viewer, password: "{SECRET}", '
        'permissions: { publish: "nothing.>", subscribe: "_INBOX.>" }}] }'
    )
    with running(tmp_path / "perm", config) as server:
        result = qxgen("dlq", "list", "--url", server.url, "--user", "viewer", NATS_PASSWORD=SECRET)
        out = assert_clean(result, SECRET)
    assert "denied user 'viewer': permissions violation for publish to" in out
    assert "stream.info.qx_dlq" in out.lower()


def test_generated_worker_with_a_refused_login_exits_with_one_line(
    auth_server: ConfServer,
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "QX_"))}
    env = {
        **clean,
        "PYTHONPATH": str(EXAMPLE),
        "NATS_URL": f"nats://127.0.0.1:{auth_server.port}",
        "NATS_USER": "alice",
        "NATS_PASSWORD": "nope-" + SECRET,
        "QX_LOG_LEVEL": "DEBUG",
    }
    result = subprocess.run(
        [sys.executable, "-m", "shop_service.worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=EXAMPLE,
    )
    out = assert_clean(result, SECRET, code=78)  # EXIT_CONFIG, like any unusable setting
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: worker cannot start: NATS at nats://127.0.0.1:")
    )
    assert "refused the login as user 'alice'" in out


def test_key_files_of_the_wrong_kind_are_named_without_their_content(tmp_path: Path) -> None:
    from tests.security.servers import make_nkey, make_operator

    key = make_nkey(tmp_path, "worker")
    op = make_operator(tmp_path / "op")
    down = f"nats://127.0.0.1:{free_port()}"
    seed_as_creds = qxgen("dlq", "list", "--url", down, "--creds", str(key.seed_file))
    creds_as_seed = qxgen("dlq", "list", "--url", down, NATS_NKEY_SEED_FILE=str(op.creds_file))
    missing = qxgen("dlq", "list", "--url", down, "--creds", str(tmp_path / "nope.creds"))
    both = qxgen("dlq", "list", "--url", down, "--token", TOKEN, NATS_CREDS_FILE=str(op.creds_file))
    out = assert_clean(seed_as_creds, key.seed)
    assert "is not a NATS .creds file; it holds an nkey seed: pass it as NATS_NKEY_SEED_FILE" in out
    out = assert_clean(creds_as_seed, op.user_seed)
    assert "is a .creds file, not an nkey seed; pass it as NATS_CREDS_FILE" in out
    assert "cannot read the credentials file" in assert_clean(missing)
    out = assert_clean(both, TOKEN, op.user_seed, code=2)  # a usage error
    assert "choose one authentication method" in out


@given(
    user=st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=12),
    secret=st.text(
        alphabet=string.ascii_letters + string.digits + "-_.~!$&'()*+;=:@%", min_size=12
    ),
    servers=st.integers(min_value=1, max_value=3),
)
def test_redact_url_never_leaks_the_password(user: str, secret: str, servers: int) -> None:
    url = ",".join(f"nats://{user}:{secret}@n{i}.example.test:4222" for i in range(servers))
    expected = ",".join(f"nats://{user}:***@n{i}.example.test:4222" for i in range(servers))
    assume(secret not in expected)  # a password that equals the user name, say
    assert redact_url(url) == expected


def test_qx_nats_declares_nkeys() -> None:
    """``.creds`` and nkey auth import ``nkeys`` inside nats-py: it must come with qx."""
    requires = importlib.metadata.requires("qx-nats") or []
    assert any(r.split(";")[0].strip().startswith("nkeys") for r in requires), requires
