"""Turning arbitrary schema text into safe Python identifiers and module names."""

from __future__ import annotations

import keyword
import re
import unicodedata

_WORD = re.compile(r"[A-Za-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# Names the generated modules import or define themselves; a model must not shadow them.
RESERVED_CLASS_NAMES = frozenset(
    {
        "Annotated",
        "Any",
        "AwareDatetime",
        "BaseModel",
        "ClassVar",
        "ConfigDict",
        "Enum",
        "EventRegistry",
        "Field",
        "IntEnum",
        "IntegrationEvent",
        "Literal",
        "Model",
        "RootModel",
        "StrEnum",
        "UUID",
    }
)


def _ascii_words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _WORD.findall(_CAMEL.sub(" ", folded))


def pascal_case(text: str, *, fallback: str = "Model") -> str:
    """``"orders.order-placed"`` -> ``"OrdersOrderPlaced"``; always a valid ASCII identifier."""
    words = _ascii_words(text)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name:
        name = fallback
    if name[0].isdigit():
        name = f"{fallback}{name}"
    if keyword.iskeyword(name) or name in RESERVED_CLASS_NAMES:
        name = f"{name}Model"
    return name


def snake_case(text: str, *, fallback: str = "module") -> str:
    """``"UserRegisteredV1"`` -> ``"user_registered_v1"``; a valid ASCII module name."""
    words = [w.lower() for w in _ascii_words(text)]
    name = "_".join(words) or fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    if keyword.iskeyword(name):
        name = f"{name}_"
    return name


def is_dotted_identifier(text: str) -> bool:
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in text.split("."))
