"""``qxgen dev``'s loop: run the worker, and restart it when the code or the schemas change.

The worker runs in this process, so a reload is: stop it (a full drain: in-flight messages
are acked or nakked, never lost), regenerate if a schema changed, forget the service's modules
(``sys.modules``), import them again and start a new worker, which re-provisions the stream
with the new subjects. The embedded server keeps running. Files the generator itself writes
(``integration/``, ``worker.py``) do not trigger a reload; a handler stub it creates does not
either. A handler that does not import is reported (file and line) and the loop waits for
the next change instead of exiting. Watching is watchfiles (inotify, with a 300 ms debounce).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import watchfiles
from rich.console import Console
from rich.markup import escape

from qx.ops import shutdown_telemetry
from qx.service import serve_app
from qx.worker import WorkerRuntime
from qxgen.commands._running import listening, print_settlements
from qxgen.commands._service import BuildWorker, GeneratedService, load_service
from qxgen.errors import QxgenError
from qxgen.generator import plan
from qxgen.output import write

SCHEMA_SUFFIXES = {".json", ".yaml", ".yml"}
_GENERATED = ("integration", "worker.py")  # rewritten by `qxgen generate`: never a cause


class Reloader:
    def __init__(self, service: GeneratedService, console: Console) -> None:
        self.service = service
        self.console = console
        self.config = service.config
        self._written: set[Path] = set()
        self._seen = self._scan()

    async def run(self, watch: bool) -> None:
        """Until the worker stops by itself (SIGINT/SIGTERM drained it). Each worker flushes
        telemetry when it stops; it is shut down once, here, at the end of the session."""
        try:
            await self._run(watch)
        finally:
            shutdown_telemetry()

    async def _run(self, watch: bool) -> None:
        while True:
            build = self._load()
            if build is None and not watch:
                return
            if build is None:
                self._apply(await self._next_change())
                continue
            running: list[WorkerRuntime] = []
            run = asyncio.create_task(
                serve_app(
                    self._factory(build, running),
                    service_name=self.config.service,
                    keep_telemetry=True,  # shut down once, by run()
                )
            )
            if not watch:
                await run
                return
            change = asyncio.create_task(self._next_change())
            await asyncio.wait({run, change}, return_when=asyncio.FIRST_COMPLETED)
            if run.done():
                change.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await change
                run.result()
                return
            changes = change.result()
            if running:
                await running[0].stop()
            await run
            self._apply(changes)

    def _factory(
        self, build: BuildWorker, running: list[WorkerRuntime]
    ) -> Callable[[], AbstractAsyncContextManager[WorkerRuntime]]:
        """What ``serve_app`` calls (its settings errors become one line); the worker it
        yields is kept in ``running`` so a reload can stop it."""

        @asynccontextmanager
        async def app() -> AsyncIterator[WorkerRuntime]:
            async with listening(build(), print_settlements(self.console)) as worker:
                running.append(worker)
                yield worker

        return app

    def _load(self) -> BuildWorker | None:
        """The freshly imported ``build``; None (reported) when the service does not import."""
        for name in [
            m for m in sys.modules if m.split(".")[0] == self.service.package.split(".")[0]
        ]:
            del sys.modules[name]
        importlib.invalidate_caches()
        try:
            self.service = load_service(
                self.config.project_dir, package=self.config.package, out=self.config.out
            )
            build, _ = self.service.worker()
            self.config = self.service.config  # pyproject.toml may have changed too
        except QxgenError as exc:
            self.console.print(f"[red]not running:[/] {escape(str(exc))}", markup=True)
            self.console.print("waiting for a change to reload")
            return None
        return build

    def _apply(self, changes: list[Path]) -> None:
        names = ", ".join(escape(self.config.display(p)) for p in changes)
        if any(self._is_schema(p) for p in changes):
            try:
                report = write(plan(self.config), self.config.out)
            except QxgenError as exc:
                self.console.print(f"[red]generate failed:[/] {escape(str(exc))}", markup=True)
            else:
                self._written = {self.config.out / p for p in [*report.wrote, *report.created]}
                self.console.print(
                    f"[bold]reload[/] {names} changed: regenerated ({len(report.wrote)} written, "
                    f"{len(report.created)} created), restarting the worker",
                    markup=True,
                )
                return
        self.console.print(f"[bold]reload[/] {names} changed: restarting the worker", markup=True)

    def _is_schema(self, path: Path) -> bool:
        return path.suffix in SCHEMA_SUFFIXES and path.is_relative_to(self.config.schemas)

    def _relevant(self, path: Path) -> bool:
        if self._is_schema(path):
            return True
        package = self.config.package_dir
        if path.suffix != ".py" or not path.is_relative_to(package):
            return False
        return path.relative_to(package).parts[0] not in _GENERATED

    def _scan(self) -> dict[Path, float]:
        """mtimes of every file whose change means a reload."""
        found: dict[Path, float] = {}
        for root in (self.config.package_dir, self.config.schemas):
            if root.is_dir():
                for path in root.rglob("*"):
                    if path.is_file() and self._relevant(path):
                        found[path] = path.stat().st_mtime
        return found

    async def _next_change(self) -> list[Path]:
        roots = [p for p in (self.config.package_dir, self.config.schemas) if p.is_dir()]
        checked = False
        watch = watchfiles.awatch(*roots, debounce=300, rust_timeout=300, yield_on_timeout=True)
        async for batch in watch:
            if not checked:
                # The watcher is live now: catch what changed while the worker was stopping
                # or starting, when nothing was watching.
                checked = True
                now = self._scan()
                missed = sorted(
                    p
                    for p in now.keys() | self._seen.keys()
                    if now.get(p) != self._seen.get(p) and p not in self._written
                )
                self._seen = now
                self._written = set()  # generated before the watcher started: in _seen now
                if missed:
                    return missed
            changed = sorted({Path(p) for _, p in batch})
            relevant = [p for p in changed if self._relevant(p)]
            if relevant:
                self._seen = self._scan()
                return relevant
        return []
