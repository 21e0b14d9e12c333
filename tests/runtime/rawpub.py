"""Publish an exact header block over the NATS protocol, as a producer in another language can.

nats-py sends one value per header name and strips values, so messages with repeated fields or
arbitrary spellings are written here with ``HPUB`` on a plain socket, awaiting the JetStream
PubAck on a reply inbox. Independent of qx's own header code, which is what the tests check.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlparse


async def raw_publish(url: str, subject: str, header_block: bytes, body: bytes) -> int:
    """Returns the stream sequence from the PubAck; raises if the server refused it."""
    parsed = urlparse(url)
    reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port or 4222)
    try:
        await reader.readline()  # INFO
        connect = {"verbose": False, "pedantic": False, "headers": True, "protocol": 1}
        inbox = "_INBOX.rawpub"
        sizes = f"{len(header_block)} {len(header_block) + len(body)}"
        writer.write(
            f"CONNECT {json.dumps(connect)}\r\nSUB {inbox} 1\r\n".encode()
            + f"HPUB {subject} {inbox} {sizes}\r\n".encode()
            + header_block
            + body
            + b"\r\n"
        )
        await writer.drain()
        while True:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            if line.startswith(b"PING"):
                writer.write(b"PONG\r\n")
                await writer.drain()
            elif line.startswith(b"-ERR"):
                raise RuntimeError(line.decode().strip())
            elif line.startswith(b"MSG") or line.startswith(b"HMSG"):
                size = int(line.split()[-1])
                payload = (await reader.readexactly(size + 2))[:size]
                if line.startswith(b"HMSG"):
                    payload = payload[int(line.split()[-2]) :]
                doc = json.loads(payload)
                if "error" in doc:
                    raise RuntimeError(str(doc["error"]))
                return int(doc["seq"])
    finally:
        writer.close()
