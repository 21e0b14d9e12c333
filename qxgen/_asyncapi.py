"""The AsyncAPI 3.0 document of a service: what it receives, on which subjects, in which shape.

One channel per subject, one ``receive`` operation per event, one message per event with the
bundled payload schema (shared definitions become ``components/schemas``, refs rewritten to
point there), the CloudEvents headers qx producers write as the header schema, the schema's
``examples`` as message examples, and the JetStream stream and durable consumer as ``x-qx-*``
extensions (the NATS binding of AsyncAPI describes core NATS queue groups, not JetStream).

Output is deterministic (sorted keys where order is ours, stable JSON text).
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

from qxgen.config import GeneratorConfig
from qxgen.generator import resolve_events, subject_of
from qxgen.output import MANIFEST_NAME

ASYNCAPI_VERSION = "3.0.0"
DEFAULT_FILE = "asyncapi.json"


def cloudevents_headers(event_type: str, version: int) -> dict[str, Any]:
    """The binary-mode CloudEvents headers qx producers write (see qx.events.encode_cloudevent)."""
    text = {"type": "string"}
    return {
        "type": "object",
        "description": "CloudEvents 1.0 binary mode: attributes as ce-* NATS headers.",
        "properties": {
            "ce-specversion": {"type": "string", "const": "1.0"},
            "ce-type": {"type": "string", "const": event_type},
            "ce-id": {**text, "description": "Unique per event; the deduplication key."},
            "ce-source": {**text, "description": "The producing service."},
            "ce-time": {"type": "string", "format": "date-time"},
            "ce-qxversion": {"type": "string", "const": str(version)},
            "ce-correlationid": {**text, "description": "Shared by every event of one flow."},
            "ce-causationid": {**text, "description": "The ce-id of the event that caused it."},
            "ce-tenantid": text,
            "ce-actorid": text,
            "content-type": {"type": "string", "const": "application/json"},
            "traceparent": {**text, "description": "W3C trace context of the producer."},
        },
        "required": ["ce-specversion", "ce-type", "ce-id", "ce-source"],
    }


def build(config: GeneratorConfig) -> dict[str, Any]:
    schemas_display = config.display(config.schemas)
    resolved = resolve_events(config)
    specs, names, bundle = resolved.specs, resolved.names, resolved.bundle

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in specs:
        name = names[(spec.type, spec.version)]
        subject = subject_of(spec)
        channel_id = subject.replace(".", "_").replace("-", "_")
        body = bundle.definitions[name]
        message: dict[str, Any] = {
            "name": name,
            "title": str(body.get("title", f"{spec.type} v{spec.version}")),
            "contentType": "application/json",
            "headers": cloudevents_headers(spec.type, spec.version),
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "x-qx-event": {"type": spec.type, "version": spec.version},
        }
        if isinstance(body.get("description"), str):
            message["summary"] = body["description"]
        examples = body.get("examples")
        if isinstance(examples, list) and examples:
            message["examples"] = [
                {
                    "name": f"{name}_{i}",
                    "headers": {
                        "ce-specversion": "1.0",
                        "ce-type": spec.type,
                        "ce-id": f"example-{i}",
                        "ce-source": config.service,
                        "ce-qxversion": str(spec.version),
                    },
                    "payload": example,
                }
                for i, example in enumerate(examples, start=1)
                if isinstance(example, dict)
            ]
        messages[name] = message
        stream = spec.stream or config.stream
        channels[channel_id] = {
            "address": subject,
            "title": subject,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "x-qx-stream": stream,
        }
        operations[f"receive{name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{config.service} handles {spec.type} v{spec.version}",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
            "x-qx-jetstream": {"stream": stream, "durable": config.durable, "ack": "explicit"},
        }
    schemas = {key: _rewrite_refs(value) for key, value in sorted(bundle.definitions.items())}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": config.service,
            "version": _project_version(config),
            "description": (
                f"Events {config.service} consumes from the NATS JetStream stream "
                f"{config.stream} (durable consumer {config.durable}). Generated by qxgen "
                f"from {schemas_display}; payload schemas are JSON Schema draft 2020-12."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
        "x-qx-service": {"stream": config.stream, "durable": config.durable},
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _rewrite_refs(node: Any, *, in_map: bool = False) -> Any:
    """Refs into ``components/schemas``; an OpenAPI-style ``discriminator`` object becomes the
    AsyncAPI form (the property name as a string)."""
    if isinstance(node, dict):
        out = {
            k: _rewrite_refs(v, in_map=k in ("properties", "patternProperties") and not in_map)
            for k, v in node.items()
        }
        disc = out.get("discriminator")
        if not in_map and isinstance(disc, dict) and isinstance(disc.get("propertyName"), str):
            out["discriminator"] = disc["propertyName"]
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            out["$ref"] = "#/components/schemas/" + ref[len("#/$defs/") :]
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def _project_version(config: GeneratorConfig) -> str:
    try:
        with (config.project_dir / "pyproject.toml").open("rb") as f:
            version = tomllib.load(f).get("project", {}).get("version")
    except (OSError, tomllib.TOMLDecodeError):
        return "0.0.0"
    return str(version) if version else "0.0.0"


__all__ = ["ASYNCAPI_VERSION", "DEFAULT_FILE", "MANIFEST_NAME", "build", "dumps"]
