"""The worker: ``WorkerRuntime`` runs handlers for a durable JetStream consumer."""

from qx.worker._decision import Ack, DeadLetter, Decision, Nak, Outcome, decide
from qx.worker._loop import run_main
from qx.worker._processes import Supervisor, requested_processes, supervise_from_env
from qx.worker._runtime import WorkerRuntime
from qx.worker._serve import serve
from qx.worker._settings import (
    RetryPolicy,
    WorkerSettings,
    describe_settings_error,
    load_settings,
)
from qx.worker._stats import Settled, WorkerStats

__all__ = [
    "Ack",
    "DeadLetter",
    "Decision",
    "Nak",
    "Outcome",
    "RetryPolicy",
    "Settled",
    "Supervisor",
    "WorkerRuntime",
    "WorkerSettings",
    "WorkerStats",
    "decide",
    "describe_settings_error",
    "load_settings",
    "requested_processes",
    "run_main",
    "serve",
    "supervise_from_env",
]
