"""The worker: ``WorkerRuntime`` runs handlers for a durable JetStream consumer."""

from qx.worker._decision import Ack, DeadLetter, Decision, Nak, Outcome, decide
from qx.worker._runtime import WorkerRuntime
from qx.worker._serve import serve
from qx.worker._settings import RetryPolicy, WorkerSettings
from qx.worker._stats import Settled, WorkerStats

__all__ = [
    "Ack",
    "DeadLetter",
    "Decision",
    "Nak",
    "Outcome",
    "RetryPolicy",
    "Settled",
    "WorkerRuntime",
    "WorkerSettings",
    "WorkerStats",
    "decide",
    "serve",
]
