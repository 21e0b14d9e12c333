"""The error boundary of every ``qxgen`` command: one style, documented exit codes.

Every failure leaves through ``QxgenGroup.invoke``: one ``error: ...`` line on stderr with
the exit code documented in ``qxgen.errors``, whichever command raised it and however
(``click.ClickException``, ``QxgenError``, a ``qx`` error). Groups nested in ``qxgen``
(``qxgen dlq``) use the same class, so they behave the same when invoked on their own.
"""

from __future__ import annotations

from typing import IO, Any

import click

from qx.exceptions import QxError
from qxgen.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, QxgenError, is_auth_failure


class CommandError(click.ClickException):
    """A failure shown as ``error: <message>`` with a chosen exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class

    def show(self, file: IO[Any] | None = None) -> None:
        _echo(f"error: {self.format_message()}", file)


class UsageError(click.UsageError):
    """click's usage error (the usage line and the help hint), in the same ``error:`` style."""

    def show(self, file: IO[Any] | None = None) -> None:
        lines = [f"error: {self.format_message()}"]
        if self.ctx is not None:
            lines[:0] = [self.ctx.get_usage(), f"Try '{self.ctx.command_path} -h' for help."]
        _echo("\n".join(lines), file)


def _echo(text: str, file: IO[Any] | None) -> None:
    if file is None:
        click.echo(text, err=True)
    else:
        click.echo(text, file=file)


def _message(exc: QxError) -> str:
    message = str(exc) or type(exc).__name__
    if is_auth_failure(message):
        return f"auth failed: {message}"
    return message


class QxgenGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, CommandError):
            raise
        except click.UsageError as exc:
            if isinstance(exc, UsageError):
                raise
            raise _usage(exc) from None
        except click.ClickException as exc:
            raise CommandError(exc.format_message(), exc.exit_code) from None
        except QxgenError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
        except QxError as exc:
            raise CommandError(_message(exc), EXIT_FAILED) from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def _usage(exc: click.UsageError) -> UsageError:
    return UsageError(exc.format_message(), exc.ctx)
