"""Constructor forms and setting names (new and qx-worker 1.x), without a server."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from qx.events import ConsumerSettings, EventRegistry, NatsConsumer, NatsSettings
from qx.exceptions import ConfigurationError
from qx.transport._connection import as_settings
from tests.runtime.events import OrderPlaced


@pytest.fixture(autouse=True)
def no_nats_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(("NATS_", "QX_")):
            monkeypatch.delenv(key)


@pytest.fixture
def caught() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield seen


def deprecations(seen: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in seen if issubclass(w.category, DeprecationWarning)]


class FakeClient:
    """Stands in for a connected nats-py client (nothing is sent in these tests)."""


def test_new_spellings_warn_nothing(caught: list[warnings.WarningMessage]) -> None:
    s = NatsSettings(url=["nats://a:1", "nats://b:2"], stream="S", durable="d", subjects="x.>")
    assert s.servers == ["nats://a:1", "nats://b:2"]
    assert s.subjects == ["x.>"]
    consumer = NatsConsumer(FakeClient(), s)  # type: ignore[arg-type]
    assert (consumer.settings.stream, consumer.settings.durable) == ("S", "d")
    assert consumer.settings.subjects == ["x.>"]
    assert deprecations(caught) == []


def test_1x_keywords_map_with_one_warning_each(caught: list[warnings.WarningMessage]) -> None:
    s = NatsSettings(
        servers=["nats://a:1", "nats://b:2"],
        reconnect_time_wait_seconds=0.5,
        connect_timeout_seconds=3,
        max_reconnect_attempts=10,
        name="svc",
    )
    assert (s.url, s.reconnect_time_wait, s.connect_timeout) == ("nats://a:1,nats://b:2", 0.5, 3)
    found = deprecations(caught)
    assert len(found) == 3
    assert any("servers=" in m and "url=" in m and "NATS_URL" in m for m in found)
    assert all(w.filename == __file__ for w in caught)  # points at the caller's line


def test_1x_and_new_keyword_together_is_an_error() -> None:
    with pytest.raises(TypeError, match="keep url="):
        NatsSettings(servers=["nats://a:1"], url="nats://b:2")


def test_unknown_keywords_are_errors_not_ignored() -> None:
    with pytest.raises(ValidationError, match="servrs"):
        NatsSettings(servrs="nats://a:1")
    with pytest.raises(TypeError, match="durabel"):
        NatsConsumer(FakeClient(), stream="S", durabel="d")  # type: ignore[arg-type]


def test_qx_nats_env_names(
    monkeypatch: pytest.MonkeyPatch, caught: list[warnings.WarningMessage]
) -> None:
    monkeypatch.setenv("QX_NATS__SERVERS", "nats://old:1,nats://old:2")
    monkeypatch.setenv("QX_NATS__NAME", "legacy")
    s = NatsSettings()
    assert (s.url, s.name) == ("nats://old:1,nats://old:2", "legacy")
    assert sorted(deprecations(caught)) == [
        "QX_NATS__NAME is the qx-worker 1.x spelling; use NATS_NAME (README: Coming from "
        "qx-worker 1.x)",
        "QX_NATS__SERVERS is the qx-worker 1.x spelling; use NATS_URL (README: Coming from "
        "qx-worker 1.x)",
    ]
    monkeypatch.setenv("NATS_URL", "nats://new:1")  # the new name wins
    assert NatsSettings().url == "nats://new:1"


def test_unknown_qx_nats_env_name_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QX_NATS__SERVRS", "nats://a:1")
    with pytest.raises(ConfigurationError, match="QX_NATS__SERVRS is not a NATS setting"):
        NatsSettings()


def test_1x_settings_class_nesting_nats_settings_warns_once(
    monkeypatch: pytest.MonkeyPatch, caught: list[warnings.WarningMessage]
) -> None:
    class AppSettings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="QX_", env_nested_delimiter="__")
        nats: NatsSettings = Field(default_factory=NatsSettings)

    monkeypatch.setenv("QX_NATS__SERVERS", '["nats://old:1"]')
    assert AppSettings().nats.url == "nats://old:1"
    assert len(deprecations(caught)) == 1


def test_1x_consumer_form(caught: list[warnings.WarningMessage]) -> None:
    registry = EventRegistry()
    registry.register(OrderPlaced)
    consumer = NatsConsumer(
        FakeClient(),  # type: ignore[arg-type]
        registry,
        stream="LEGACY",
        durable_name="legacy",
        subject_filter="orders.>",
        batch_size=10,
        max_deliver=3,
        ack_wait_seconds=7,
    )
    s = consumer.settings
    assert (s.stream, s.durable, s.subjects, s.max_deliver, s.ack_wait) == (
        "LEGACY",
        "legacy",
        ["orders.>"],
        3,
        7,
    )
    assert consumer.batch_size == 10
    assert len(deprecations(caught)) == 5  # durable_name, subject_filter, ack_wait, batch, registry


def test_existing_forms_keep_working() -> None:
    cs = ConsumerSettings(stream="S", durable="d", subjects=["a.>"])
    assert NatsConsumer(NatsSettings(), cs).settings is cs
    assert NatsConsumer(nats=NatsSettings(), settings=cs).settings is cs
    assert NatsConsumer(cs, connection=FakeClient()).settings is cs  # type: ignore[arg-type]
    overridden = NatsConsumer(FakeClient(), cs, max_deliver=9).settings  # type: ignore[arg-type]
    assert (overridden.durable, overridden.max_deliver) == ("d", 9)


def test_defaults_for_one_service_come_from_its_name() -> None:
    registry = EventRegistry()
    registry.register(OrderPlaced)
    consumer = NatsConsumer(FakeClient(), NatsSettings(name="billing service"))  # type: ignore[arg-type]
    consumer.use_registry(registry)
    s = consumer.settings
    assert (s.stream, s.durable, s.subjects) == (
        "BILLING_SERVICE",
        "billing_service",
        ["orders.order.placed.v1"],
    )


def test_missing_consumer_names_say_what_to_set() -> None:
    consumer = NatsConsumer(FakeClient(), NatsSettings())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="QX_STREAM"):
        _ = consumer.settings


def test_connection_targets() -> None:
    assert as_settings("nats://a:1").servers == ["nats://a:1"]
    assert as_settings(["nats://a:1", "nats://b:2"]).servers == ["nats://a:1", "nats://b:2"]
    s = NatsSettings(url="nats://c:3")
    assert as_settings(s) is s


def test_consumer_names_share_the_generated_workers_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QX_STREAM", "ORDERS")
    monkeypatch.setenv("QX_DURABLE", "billing")
    monkeypatch.setenv("QX_SUBJECTS", "orders.>, refunds.>")
    s = NatsSettings()
    assert (s.stream, s.durable, s.subjects) == ("ORDERS", "billing", ["orders.>", "refunds.>"])
    assert NatsSettings(stream="OTHER").stream == "OTHER"
    assert s.to_env()["QX_SUBJECTS"] == "orders.>,refunds.>"


def test_the_nats_cli_variable_names_are_read_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_CREDS", "/run/a.creds")
    monkeypatch.setenv("NATS_CA", "/etc/ca.pem")
    monkeypatch.setenv("NATS_CERT", "/etc/c.pem")
    monkeypatch.setenv("NATS_KEY", "/etc/c.key")
    s = NatsSettings()
    assert (s.creds_file, s.tls_ca_file, s.tls_cert_file, s.tls_key_file) == (
        "/run/a.creds",
        "/etc/ca.pem",
        "/etc/c.pem",
        "/etc/c.key",
    )
    monkeypatch.setenv("NATS_TLS_CA_FILE", "/etc/ours.pem")  # ours win
    assert NatsSettings().tls_ca_file == "/etc/ours.pem"
    monkeypatch.delenv("NATS_CREDS")
    monkeypatch.setenv("NATS_NKEY", "/run/u.nk")
    assert NatsSettings().nkey_seed_file == "/run/u.nk"
