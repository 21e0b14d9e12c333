"""The ``qxgen`` command group.

Each command lives in its own module under ``qxgen.commands`` and is added here, so new
commands (``dev``, ``publish``, ``dlq``...) are one module and one ``add_command`` line.

Errors: ``qxgen.commands._boundary.QxgenGroup`` (one style; exit codes in ``qxgen.errors``).
"""

from __future__ import annotations

import click

from qxgen._version import VERSION
from qxgen.commands import QxgenGroup
from qxgen.commands.asyncapi import asyncapi
from qxgen.commands.compat import compat
from qxgen.commands.demo import demo
from qxgen.commands.dev import dev
from qxgen.commands.generate import generate
from qxgen.commands.init import init
from qxgen.commands.publish import publish
from qxgen.commands.relay import relay
from qxgen.ops_commands import register as register_ops_commands


@click.group(cls=QxgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="qxgen")
def cli() -> None:
    """Typed NATS JetStream event workers from JSON Schema.

    Exit codes: 0 done; 1 the command could not do its job (NATS, stale code, rejected input);
    2 bad usage or project configuration; 130 interrupted.
    """


cli.add_command(generate)
cli.add_command(init)
cli.add_command(publish)
cli.add_command(dev)
cli.add_command(demo)
cli.add_command(compat)  # schema evolution: breaking-change check
cli.add_command(asyncapi)  # AsyncAPI 3.0 document of the service
cli.add_command(relay)  # transactional outbox relay (qx.outbox)
register_ops_commands(cli)  # dlq list/show/replay/purge


def main() -> None:
    cli()
