"""Operating qx workers: DLQ inspection and replay, HTTP probes, and OpenTelemetry setup.

A generated entrypoint wires the runtime side like this::

    telemetry = configure_telemetry()            # OTEL_* env; Prometheus if QX_PROBES_PORT
    probes = await start_probes_from_env(worker)  # None unless QX_PROBES_PORT is set
    try:
        await serve(worker)
    finally:
        if probes:
            await probes.close()
        telemetry.shutdown()

The DLQ functions take a connected ``nats.aio.client.Client`` and the DLQ stream name; the
``qxgen dlq`` commands are a thin layer over them. Nothing here needs the ``otel`` extra until
telemetry or ``/metrics`` is actually asked for.
"""

from qx.exceptions import (
    DlqRecordNotFoundError,
    DlqStreamNotFoundError,
    MissingDependencyError,
    NatsUnavailableError,
    OpsError,
    ReplayError,
    TelemetryConfigError,
)
from qx.ops._connect import NatsTarget, connect, connection
from qx.ops._dlq import (
    REPLAY_OF,
    DlqState,
    Replayed,
    ReplayMessage,
    build_replay,
    dlq_state,
    event_id_of,
    event_type_of,
    get_record,
    iter_records,
    list_records,
    original_event_id,
    purge,
    read_omitted,
    replay,
    replay_event_id,
    replay_records,
    select_records,
    trace_id_of,
)
from qx.ops._otel import Telemetry, configure_telemetry, shutdown_telemetry
from qx.ops._permissions import Permissions, dlq_operator_permissions, worker_permissions
from qx.ops._probes import ProbeServer, start_probes, start_probes_from_env

__all__ = [
    "REPLAY_OF",
    "DlqRecordNotFoundError",
    "DlqState",
    "DlqStreamNotFoundError",
    "MissingDependencyError",
    "NatsTarget",
    "NatsUnavailableError",
    "OpsError",
    "Permissions",
    "ProbeServer",
    "ReplayError",
    "ReplayMessage",
    "Replayed",
    "Telemetry",
    "TelemetryConfigError",
    "build_replay",
    "configure_telemetry",
    "connect",
    "connection",
    "dlq_operator_permissions",
    "dlq_state",
    "event_id_of",
    "event_type_of",
    "get_record",
    "iter_records",
    "list_records",
    "original_event_id",
    "purge",
    "read_omitted",
    "replay",
    "replay_event_id",
    "replay_records",
    "select_records",
    "shutdown_telemetry",
    "start_probes",
    "start_probes_from_env",
    "trace_id_of",
    "worker_permissions",
]
