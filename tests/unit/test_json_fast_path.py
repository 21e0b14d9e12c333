"""With orjson installed the envelope's JSON decoding still equals json.loads of the UTF-8
text exactly (bodies are UTF-8 only: no UTF-16/32 guessing, no BOM)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qx.events import _envelope
from qx.exceptions import InvalidJsonError

pytest.importorskip("orjson")

_TRICKY = [b'{"a": 1, "a": 2}', b"123456789012345678901234567890", b"[1e400]", b"NaN",
           b'"\\ud800"', b"\xef\xbb\xbf{}", b"-0", b"[-0.0]", b"1E2", b" {} ",
           b'"\xed\xa0\x80"', "{}".encode("utf-16"), b"[" * 600 + b"]" * 600]  # fmt: skip


def _same(body: bytes) -> None:
    try:
        expected = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        with pytest.raises(InvalidJsonError):
            _envelope._json(body)
        return
    got = _envelope._json(body)
    assert repr(got) == repr(expected)  # repr: tells 0 from -0.0 and int from float
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got)


@pytest.mark.parametrize("body", _TRICKY)
def test_tricky_inputs(body: bytes) -> None:
    _same(body)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@settings(max_examples=500)
@given(_json_values)
def test_generated_documents(value: object) -> None:
    _same(json.dumps(value).encode())


@settings(max_examples=500)
@given(st.binary(max_size=40))
def test_arbitrary_bytes(body: bytes) -> None:
    _same(body)


@settings(max_examples=2000)
@given(
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["%.17g", "%.15g", "%.3e"])
)
def test_float_literals_round_the_same(value: float, fmt: str) -> None:
    _same((fmt % value).encode())
