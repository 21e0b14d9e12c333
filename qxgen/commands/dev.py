"""``qxgen dev``: the service's worker on an embedded nats-server, for interactive work.

The worker runs in this process (``<package>.worker.build()`` + ``qx.service.run_worker``, the
same two calls the generated ``main()`` makes) rather than as a child process: one process to
Ctrl-C, a line per settled message from a listener on the runtime, and nothing left consuming in
the background if this command is killed. The only child is nats-server, tracked by the pid
file in its store (see ``_running``), and a ``dev.json`` beside it records which ``qxgen dev``
owns it, so a second ``qxgen dev`` on the same project refuses instead of stealing the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from qx import ops
from qx.embedded import EmbeddedNatsServer, free_port
from qx.exceptions import QxError
from qx.service import EXIT_CONFIG, StartupError
from qxgen._nats_options import export_to_worker, nats_options
from qxgen.commands._boundary import CommandError
from qxgen.commands._reload import Reloader
from qxgen.commands._running import process_command, stale_server_pid, stop_stale_server
from qxgen.commands._service import GeneratedService, load_service
from qxgen.errors import EXIT_FAILED, EXIT_USAGE, QxgenError, describe_nats_failure

DEFAULT_PORT = 4222  # what NATS_URL, `qxgen publish` and `qxgen dlq` default to
STORE = Path(".qx") / "nats"
STATE_FILE = "dev.json"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _owner(store: Path) -> tuple[int, str] | None:
    """(pid, url) of a `qxgen dev` still running on ``store``, if any."""
    try:
        state = json.loads((store / STATE_FILE).read_text())
        pid, url = int(state["pid"]), str(state["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid():
        return None
    command = process_command(pid)
    return (pid, url) if command is not None and "qxgen" in command else None


def start_server(store: Path, port: int | None, console: Console) -> EmbeddedNatsServer:
    """A fresh embedded server on ``store``; an orphan from a killed run is stopped first."""
    owner = _owner(store)
    if owner is not None:
        raise click.ClickException(
            f"qxgen dev is already running for this project (pid {owner[0]}, NATS at "
            f"{owner[1]}); publish to it with `qxgen publish --url {owner[1]} ...`, or stop it "
            "with Ctrl-C first"
        )
    probe = EmbeddedNatsServer(store)
    stale = stale_server_pid(probe)
    if stale is not None:
        console.print(f"stopping nats-server pid {stale} left running by an earlier qxgen dev")
        stop_stale_server(stale)
    if port is None:
        port = DEFAULT_PORT if _port_free(DEFAULT_PORT) else free_port()
    elif not _port_free(port):
        raise click.ClickException(
            f"port {port} on 127.0.0.1 is in use; pick another --port, or pass --url to use "
            "the server listening there"
        )
    server = EmbeddedNatsServer(store, port)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(f"cannot start nats-server: {exc}") from None
    (store / STATE_FILE).write_text(json.dumps({"pid": os.getpid(), "url": server.url}))
    return server


def _check_reachable(url: str) -> None:
    async def probe() -> None:
        async with ops.connection(url):
            pass

    try:
        asyncio.run(probe())
    except QxError as exc:
        raise click.ClickException(describe_nats_failure(exc, url)) from None


def _banner(
    console: Console, service: GeneratedService, url: str, embedded: bool, reload: bool
) -> None:
    project = service.config.project_dir
    where = f"embedded, store {STORE.as_posix()}/" if embedded else "external"
    example = next(iter(service.events()), None)
    console.print(f"[bold]NATS[/] {url} ({where})", markup=True)
    console.print(f"[bold]worker[/] {escape(service.package)} (project {escape(str(project))})")
    if example is not None:
        console.print(
            f"publish from another terminal:  qxgen publish {escape(example.type)}"
            f".v{example.version} --example --url {url}"
        )
    console.print(f"dead letters:                   qxgen dlq list --url {url}")
    if reload:
        config = service.config
        watched = [config.display(config.package_dir) + "/", config.display(config.schemas) + "/"]
        console.print(f"reloads on changes in:          {escape(', '.join(watched))}")
    console.print("Ctrl-C stops the worker, then the server.")


@click.command()
@nats_options(embedded_when_no_url=True)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help=f"Port of the embedded server (default {DEFAULT_PORT}, or a free one if taken).",
)
@click.option(
    "--project",
    "-C",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Project directory with pyproject.toml (default: nearest one with [tool.qxgen]).",
)
@click.option("--package", help="Generated package (default: [tool.qxgen].package).")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory holding the package (default: [tool.qxgen].out or the project).",
)
@click.option(
    "--reload/--no-reload",
    default=True,
    show_default=True,
    help="Restart the worker when handlers, providers or schemas change (regenerating first).",
)
def dev(
    url: str | None,
    port: int | None,
    project: Path | None,
    package: str | None,
    out: Path | None,
    reload: bool,
) -> None:
    """Run the service's worker on an embedded nats-server (store in .qx/nats/) until Ctrl-C.

    QX_* variables tune the worker as in production; NATS_URL is set to the server used.
    Editing a handler, providers.py or a schema restarts the worker (schemas are regenerated
    and the stream re-provisioned first); the server keeps running.
    """
    try:
        service = load_service(project, package=package, out=out)
        service.worker()
    except QxgenError as exc:
        raise click.ClickException(str(exc)) from None
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    server: EmbeddedNatsServer | None = None
    store = service.config.project_dir / STORE
    if url is None:
        server = start_server(store, port, console)
        url = server.url
    else:
        _check_reachable(url)
    try:
        _banner(console, service, url, embedded=server is not None, reload=reload)
        export_to_worker(url)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C between two runs of the worker
            asyncio.run(Reloader(service, console).run(reload))
    except StartupError as exc:  # a QX_*/NATS_*/OTEL_* value, or JetStream off: one line
        code = EXIT_USAGE if exc.code == EXIT_CONFIG else EXIT_FAILED
        raise CommandError(exc.message, code) from None
    except QxError as exc:
        raise click.ClickException(f"worker failed: {exc}") from None
    finally:
        if server is not None:
            server.stop()
            with contextlib.suppress(OSError):
                (store / STATE_FILE).unlink()
    console.print("stopped: worker drained" + (", nats-server stopped" if server else ""))
