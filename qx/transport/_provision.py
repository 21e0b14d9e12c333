"""Idempotent creation of the streams and consumers a worker needs.

Safe to run on every start by every replica. Switch it off (``provision=False``) when streams
are managed by ops; the worker then only binds and fails fast if something is missing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import APIError, BadRequestError, NotFoundError, ServiceUnavailableError

from qx.exceptions import ConfigurationError
from qx.transport._settings import ConsumerSettings

log = logging.getLogger("qx.provision")

# Enough to keep the pipeline full even with a large prefetch; see facts §8.
DEFAULT_MAX_ACK_PENDING = 1000
_SUBJECTS_OVERLAP = 10065
PROVISION_PATIENCE = 60.0
_TRANSIENT = (nats.errors.TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError)
# "replicas > 1 not supported in non-clustered mode", "insufficient resources" (too few peers)
_REPLICAS_ERRORS = {10074, 10023}


async def ensure_stream(
    js: JetStreamContext,
    name: str,
    subjects: list[str],
    *,
    max_age: float,
    replicas: int | None = None,
) -> int:
    """Create the stream, or add missing subjects to an existing one. Never removes subjects.

    ``replicas``: create it with that many, and raise an existing stream's count to it (never
    lower it: a shared DLQ stream may be replicated for another service). Returns the stream's
    replica count.
    """
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(
                StreamConfig(
                    name=name,
                    subjects=subjects,
                    retention=RetentionPolicy.LIMITS,
                    storage=StorageType.FILE,
                    max_age=max_age,
                    duplicate_window=120.0,
                    num_replicas=replicas or 1,
                )
            )
        except APIError as exc:
            if exc.err_code in _REPLICAS_ERRORS:
                raise _replicas_error(name, replicas, exc) from None
            raise
        log.info("created stream %s (R%d) for %s", name, replicas or 1, ", ".join(subjects))
        return replicas or 1
    existing = list(info.config.subjects or [])
    missing = [s for s in subjects if not any(subject_covers(e, s) for e in existing)]
    current = info.config.num_replicas or 1
    if missing or (replicas is not None and replicas > current):
        info.config.subjects = existing + missing
        if replicas is not None and replicas > current:
            info.config.num_replicas = replicas
        try:
            await js.update_stream(info.config)
        except APIError as exc:
            if exc.err_code in _REPLICAS_ERRORS:
                raise _replicas_error(name, replicas, exc) from None
            raise
        if missing:
            log.info("added subjects %s to stream %s", ", ".join(missing), name)
        if info.config.num_replicas != current:
            log.info("stream %s now has %d replicas (was %d)", name, replicas, current)
    return info.config.num_replicas or 1


def _replicas_error(name: str, replicas: int | None, exc: APIError) -> ConfigurationError:
    return ConfigurationError(
        f"stream {name} cannot have {replicas} replicas here ({exc.description}); set "
        "dlq_replicas (env QX_DLQ_REPLICAS) to at most the number of JetStream servers, or 1 "
        "on a single server"
    )


def subject_covers(pattern: str, subject: str) -> bool:
    """Whether NATS subject ``pattern`` (with ``*`` and ``>``) matches every subject that
    ``subject`` (itself possibly a wildcard) matches: adding a covered subject would only make
    the server refuse the update as overlapping."""
    p_tokens, s_tokens = pattern.split("."), subject.split(".")
    for i, p in enumerate(p_tokens):
        if p == ">":
            return i < len(s_tokens)
        if i >= len(s_tokens):
            return False
        t = s_tokens[i]
        if p == "*":
            if t == ">":
                return False
            continue
        if p != t:
            return False
    return len(p_tokens) == len(s_tokens)


async def ensure_consumer(js: JetStreamContext, s: ConsumerSettings, batch: int) -> None:
    """Create or update the durable pull consumer (explicit ack, no backoff list).

    ``batch`` is how many messages one worker may hold at once (the runtime passes
    batch x concurrency); below that, fetches stall until their timeout (facts §8).
    """
    max_ack_pending = s.max_ack_pending or max(DEFAULT_MAX_ACK_PENDING, batch)
    subjects = sorted(set(s.subjects))
    config = ConsumerConfig(
        durable_name=s.durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=s.ack_wait,
        max_deliver=s.max_deliver,
        max_ack_pending=max_ack_pending,
        **(
            {"filter_subject": subjects[0]} if len(subjects) == 1 else {"filter_subjects": subjects}
        ),
    )
    await js.add_consumer(s.stream, config)


async def ensure_dlq(js: JetStreamContext, s: ConsumerSettings, source_replicas: int = 1) -> str:
    """The DLQ stream, the advisory capture stream, and this worker's advisory consumer.

    Advisories are kept in their own stream so a broken DLQ stream cannot also lose the
    max-deliveries advisory that lets us rebuild the record later (facts §2). Returns the name
    of the stream that captures our advisories: if another stream already does (ops-managed,
    or an earlier configuration), that one is used rather than failing on overlapping subjects.

    Replicas: ``s.dlq_replicas``, else ``source_replicas`` (the source stream's count), so the
    DLQ survives whatever the source survives. The advisory consumer inherits its stream's.
    """
    replicas = s.dlq_replicas or source_replicas
    await ensure_stream(
        js, s.dlq_stream, [f"{s.dlq_subject_prefix}.>"], max_age=s.dlq_max_age, replicas=replicas
    )
    advisory_stream = s.advisory_stream
    try:
        await ensure_stream(
            js, advisory_stream, [s.advisory_subject], max_age=s.dlq_max_age, replicas=replicas
        )
    except BadRequestError as exc:
        if exc.err_code != _SUBJECTS_OVERLAP:
            raise
        advisory_stream = await js.find_stream_name_by_subject(s.advisory_subject)
        log.info("advisories for %s are captured by stream %s", s.durable, advisory_stream)
    await js.add_consumer(
        advisory_stream,
        ConsumerConfig(
            durable_name=s.advisory_durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=s.advisory_subject,
            ack_wait=30.0,
        ),
    )
    return advisory_stream


async def find_advisory_stream(js: JetStreamContext, s: ConsumerSettings) -> str | None:
    """Where our advisories are captured, when provisioning is off."""
    try:
        return await js.find_stream_name_by_subject(s.advisory_subject)
    except NotFoundError:
        return None


async def provision(
    js: JetStreamContext,
    s: ConsumerSettings,
    batch: int,
    *,
    hopeless: Callable[[], bool] = lambda: False,
) -> str:
    """Everything a worker needs; returns the advisory stream's name (see ``ensure_dlq``).

    A cluster electing a leader (a node just died) answers JetStream API requests with
    timeouts or 503 for a few seconds: retried here for up to ``PROVISION_PATIENCE`` seconds,
    so a worker started during a node outage waits instead of exiting. ``hopeless`` tells a
    failure no wait can cure (a refused permission, a server without JetStream): raised at once.
    """
    deadline = time.monotonic() + PROVISION_PATIENCE
    delay = 0.25
    while True:
        try:
            return await _provision(js, s, batch)
        except _TRANSIENT as exc:
            if hopeless() or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "provisioning %s waits for JetStream (%s); retrying in %.1fs",
                s.stream,
                type(exc).__name__,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _provision(js: JetStreamContext, s: ConsumerSettings, batch: int) -> str:
    source_replicas = await ensure_stream(
        js, s.stream, s.stream_subjects or s.subjects, max_age=s.stream_max_age
    )
    await ensure_consumer(js, s, batch)
    return await ensure_dlq(js, s, source_replicas)
