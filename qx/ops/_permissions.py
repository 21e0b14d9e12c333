"""The exact NATS permissions a worker needs: least privilege, stated once.

Operators paste these into the server's ``authorization`` block or an nsc user; the README
table and the test that runs a worker restricted to exactly these subjects both come from
here. Everything is a request/reply to the JetStream API (``$JS.API.*``), an ack to the
consumer's ack subjects, or a publish to the DLQ subject; replies arrive on ``_INBOX.>``, and
the worker watches its consumer's leader-change advisory. ``qxgen dlq`` gets its own, separate
list: it reads and deletes DLQ records, which a worker never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qx.transport import ConsumerSettings, leader_elected_subject

_API = "$JS.API"


@dataclass(frozen=True)
class Permissions:
    publish: list[str]
    subscribe: list[str]

    def as_server_config(self) -> str:
        """A nats-server ``permissions`` block."""
        pub = ", ".join(f'"{s}"' for s in self.publish)
        sub = ", ".join(f'"{s}"' for s in self.subscribe)
        return f"permissions: {{ publish: [{pub}], subscribe: [{sub}] }}"


def worker_permissions(s: ConsumerSettings, *, advisory_stream: str | None = None) -> Permissions:
    """What a worker running ``s`` publishes and subscribes to.

    With ``s.provision`` it also creates/updates its stream, consumer, the DLQ stream and the
    advisory stream and consumer; without, those must exist and it only reads them.
    ``advisory_stream``: the stream capturing max-deliveries advisories when ops created it
    under another name (default ``s.advisory_stream``).
    """
    api = _API
    adv = advisory_stream or s.advisory_stream
    publish = [
        # bind: look up the consumer, find where our advisories are captured
        f"{api}.CONSUMER.INFO.{s.stream}.{s.durable}",
        f"{api}.CONSUMER.INFO.{adv}.{s.advisory_durable}",
        f"{api}.STREAM.NAMES",
        # pull, then ack / nak / in-progress / term
        f"{api}.CONSUMER.MSG.NEXT.{s.stream}.{s.durable}",
        f"$JS.ACK.{s.stream}.{s.durable}.>",
        f"{api}.CONSUMER.MSG.NEXT.{adv}.{s.advisory_durable}",
        f"$JS.ACK.{adv}.{s.advisory_durable}.>",
        # dead-lettering: write the record; from an advisory, read the original first (and
        # on workqueue/interest streams delete it once recorded)
        s.dlq_subject,
        f"{api}.STREAM.INFO.{s.stream}",
        f"{api}.STREAM.MSG.GET.{s.stream}",
        f"{api}.STREAM.MSG.DELETE.{s.stream}",
    ]
    if s.provision:
        for stream in (s.stream, s.dlq_stream, adv):
            publish += [
                f"{api}.STREAM.INFO.{stream}",
                f"{api}.STREAM.CREATE.{stream}",
                f"{api}.STREAM.UPDATE.{stream}",
            ]
        # nats-py creates durables through DURABLE.CREATE
        publish += [
            f"{api}.CONSUMER.DURABLE.CREATE.{s.stream}.{s.durable}",
            f"{api}.CONSUMER.DURABLE.CREATE.{adv}.{s.advisory_durable}",
        ]
    # replies; and the consumer leader-change advisory, which re-sends the pull at once
    subscribe = ["_INBOX.>", leader_elected_subject(s.stream, s.durable)]
    return Permissions(publish=list(dict.fromkeys(publish)), subscribe=subscribe)


def dlq_operator_permissions(
    dlq_stream: str = "QX_DLQ",
    *,
    source_streams: Sequence[str] = (),
    replay_subjects: Sequence[str] = (),
    replay: bool = True,
    purge: bool = True,
) -> Permissions:
    """What ``qxgen dlq`` (and the ``qx.ops`` DLQ functions) publish and subscribe to.

    Every command reads the DLQ through ``STREAM.INFO`` and ``STREAM.MSG.GET`` (no consumer
    is created). ``source_streams``: the streams whose records are shown or replayed; a record
    too large to copy into the DLQ is read back from there. ``replay_subjects``: the subjects
    a replay may publish to (the originals' subjects, e.g. the source streams' subjects);
    required with ``replay``. ``replay`` and ``purge`` add the DLQ deletes (a replayed record
    is deleted after its PubAck) and, for ``purge``, the one-request purge of the whole DLQ.
    """
    if replay and not replay_subjects:
        raise ValueError(
            "replay publishes to the original subjects: pass replay_subjects (e.g. the source "
            "streams' subjects), or replay=False for an operator who only inspects and purges"
        )
    publish = [f"{_API}.STREAM.INFO.{dlq_stream}", f"{_API}.STREAM.MSG.GET.{dlq_stream}"]
    publish += [f"{_API}.STREAM.MSG.GET.{stream}" for stream in source_streams]
    if replay:
        publish += list(replay_subjects)
    if replay or purge:
        publish.append(f"{_API}.STREAM.MSG.DELETE.{dlq_stream}")
    if purge:
        publish.append(f"{_API}.STREAM.PURGE.{dlq_stream}")
    return Permissions(publish=list(dict.fromkeys(publish)), subscribe=["_INBOX.>"])
