"""The consumer's own traceparent reading agrees with OpenTelemetry's propagator."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import propagate, trace

from qx.telemetry._consume import _producer_span_context

_hex = st.text("0123456789abcdefABCDEF", min_size=0, max_size=34)
_parts = st.tuples(
    st.sampled_from(["00", "01", "ff", "0g", "0"]),
    st.one_of(_hex, st.just("0" * 32), st.just("4bf92f3577b34da6a3ce929d0e0e4736")),
    st.one_of(_hex, st.just("0" * 16), st.just("00f067aa0ba902b7")),
    st.sampled_from(["00", "01", "ff", "1"]),
    st.sampled_from(["", "-", "-x", " ", "\t", " -", "\n"]),
    st.sampled_from(["", " ", "\t"]),
)


def _reference(headers: dict[str, str]) -> trace.SpanContext:
    return trace.get_current_span(propagate.extract(headers)).get_span_context()


@settings(max_examples=3000)
@given(_parts)
def test_same_span_context_as_the_propagator(parts: tuple[str, ...]) -> None:
    version, trace_id, span_id, flags, rest, lead = parts
    headers = {"traceparent": f"{lead}{version}-{trace_id}-{span_id}-{flags}{rest}"}
    assert _producer_span_context(headers) == _reference(headers)


@given(st.text(max_size=80))
def test_arbitrary_text(value: str) -> None:
    headers = {"traceparent": value}
    assert _producer_span_context(headers) == _reference(headers)


def test_tracestate_and_long_values_use_the_propagator() -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with_state = {"traceparent": tp, "tracestate": "congo=t61rcWkgMzE"}
    got = _producer_span_context(with_state)
    assert got == _reference(with_state)
    assert got.trace_state.get("congo") == "t61rcWkgMzE"
    long = {"traceparent": tp + "-" + "x" * 600}
    assert _producer_span_context(long) == _reference(long)
