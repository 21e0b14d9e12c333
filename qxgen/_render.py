"""Jinja2 templates: the shipped ones, overridable one by one from ``--templates DIR``."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import Environment

__all__ = ["Environment", "environment", "python", "render", "templates_dir"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_FROM_IMPORT = re.compile(
    r"^from (\S+) import ([A-Za-z_][A-Za-z0-9_]*(?:, [A-Za-z_][A-Za-z0-9_]*)*)$"
)
_LINE_LIMIT = 100


def templates_dir() -> Path:
    """The shipped templates: ``qxgen/_templates`` in a wheel, top-level ``templates/`` in a
    source checkout."""
    packaged = Path(str(files("qxgen"))) / "_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def environment(override: Path | None = None) -> Environment:
    loaders: list[jinja2.BaseLoader] = []
    if override is not None:
        loaders.append(jinja2.FileSystemLoader(str(override)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    env = Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["pystr"] = pystr
    env.filters["comment"] = comment
    return env


def render(env: Environment, name: str, **context: Any) -> str:
    return env.get_template(name).render(**context)


def pystr(value: str) -> str:
    """A double-quoted Python string literal for any text (quotes, newlines, code stay data)."""
    return json.dumps(str(value), ensure_ascii=True)


def comment(value: str) -> str:
    """Text safe inside a comment or docstring line: no line breaks, no quotes run, no
    backslashes."""
    text = _CONTROL.sub(" ", str(value)).replace("\\", "/").replace('"""', "'''")
    return text


def python(source: str) -> str:
    """Final touch for generated Python: exempt line length when a line cannot be shortened
    (long schema strings), normalise the trailing newline."""
    source = source.rstrip("\n") + "\n"
    source = "\n".join(_wrap_import(line) for line in source.split("\n"))
    if any(len(line) > _LINE_LIMIT for line in source.split("\n")):
        source = "# ruff: noqa: E501, RUF100\n" + source
    return source


def _wrap_import(line: str) -> str:
    """A ``from x import y`` line over the limit, wrapped the way ruff's isort wants it (long
    event names give long handler module and class names)."""
    match = _FROM_IMPORT.match(line)
    if len(line) <= _LINE_LIMIT or match is None:
        return line
    names = "".join(f"    {name},\n" for name in match.group(2).split(", "))
    return f"from {match.group(1)} import (\n{names})"
