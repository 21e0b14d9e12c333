"""Real nats-server processes secured one way each, with the keys made here.

Certificates come from ``trustme`` (a throwaway CA), nkeys from ``nkeys``, operator/account/
user JWTs from ``nats-jwt``; each server gets a config file written for it and a private
JetStream store, on a free 127.0.0.1 port.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from nats_jwt.nkeys_ext import create_account_pair, create_operator_pair, create_user_pair
from nats_jwt.v2.account_claims import AccountClaims
from nats_jwt.v2.operator_claims import OperatorClaims
from nats_jwt.v2.user_claims import UserClaims

from qx.embedded import find_nats_server, free_port


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ConfServer:
    """A nats-server started from ``config`` (``listen`` and the store are added)."""

    directory: Path
    config: str
    port: int = 0
    scheme: str = "nats"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> ConfServer:
        self.port = self.port or free_port()
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "server.conf"
        store = self.directory / "js"
        conf.write_text(
            f'listen: 127.0.0.1:{self.port}\njetstream {{ store_dir: "{store}" }}\n{self.config}\n'
        )
        with (self.directory / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [find_nats_server(), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while not _port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self.log[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("nats-server did not listen")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running(directory: Path, config: str, *, scheme: str = "nats") -> Iterator[ConfServer]:
    server = ConfServer(directory, config, scheme=scheme).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Tls:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_block(self, *, verify: bool = False, handshake_first: bool = False) -> str:
        lines = [
            f'cert_file: "{self.server_cert}"',
            f'key_file: "{self.server_key}"',
            f'ca_file: "{self.ca}"',
            f"verify: {'true' if verify else 'false'}",
        ]
        if handshake_first:
            lines.append("handshake_first: true")
        return "tls {\n  " + "\n  ".join(lines) + "\n}\n"


def make_tls(directory: Path) -> Tls:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("worker@qx.test")
    tls = Tls(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
    ca.cert_pem.write_to_path(str(tls.ca))
    server.cert_chain_pems[0].write_to_path(str(tls.server_cert))
    server.private_key_pem.write_to_path(str(tls.server_key))
    client.cert_chain_pems[0].write_to_path(str(tls.client_cert))
    client.private_key_pem.write_to_path(str(tls.client_key))
    return tls


@dataclass
class NKey:
    public: str
    seed: str
    seed_file: Path


def make_nkey(directory: Path, name: str = "user") -> NKey:
    directory.mkdir(parents=True, exist_ok=True)
    kp = create_user_pair()
    seed = kp.seed.decode()
    path = directory / f"{name}.nk"
    path.write_text(seed + "\n")
    return NKey(public=kp.public_key.decode(), seed=seed, seed_file=path)


@dataclass
class Operator:
    """Operator mode: the server config block and a user's ``.creds`` file."""

    config: str
    creds_file: Path
    user_seed: str
    ops_creds_file: Path  # an unrestricted user of the same account
    ops_seed: str


def make_operator(directory: Path, *, permissions: dict[str, Any] | None = None) -> Operator:
    """An operator, a system account, an app account with JetStream and one user in it
    (``permissions``: ``{"pub": [...], "sub": [...]}`` allow lists)."""
    directory.mkdir(parents=True, exist_ok=True)
    okp = create_operator_pair()
    operator_jwt = OperatorClaims(okp.public_key.decode(), "qx-test").encode(okp)

    def account(name: str, jetstream: bool) -> tuple[Any, str]:
        akp = create_account_pair()
        claims = AccountClaims(akp.public_key.decode(), name)
        if jetstream:
            limits = claims.nats.limits
            limits.disk_storage = limits.memory_storage = -1
            limits.streams = limits.consumer = -1
        return akp, claims.encode(okp)

    sys_kp, sys_jwt = account("SYS", jetstream=False)
    app_kp, app_jwt = account("APP", jetstream=True)

    def user(name: str, perms: dict[str, Any] | None) -> tuple[Path, str]:
        ukp = create_user_pair()
        claims = UserClaims(ukp.public_key.decode(), name)
        if perms is not None:
            claims.nats.pub.allow.extend(perms.get("pub", []))
            claims.nats.sub.allow.extend(perms.get("sub", []))
        seed = ukp.seed.decode()
        creds = directory / f"{name}.creds"
        creds.write_text(
            "-----BEGIN NATS USER JWT-----\n"
            f"{claims.encode(app_kp)}\n"
            "------END NATS USER JWT------\n\n"
            "-----BEGIN USER NKEY SEED-----\n"
            f"{seed}\n"
            "------END USER NKEY SEED------\n"
        )
        return creds, seed

    creds, seed = user("worker", permissions)
    ops_creds, ops_seed = user("ops", None)
    app_pub, sys_pub = app_kp.public_key.decode(), sys_kp.public_key.decode()
    config = (
        f"operator: {operator_jwt}\n"
        f"system_account: {sys_pub}\n"
        "resolver: MEMORY\n"
        f"resolver_preload: {{\n  {app_pub}: {app_jwt}\n"
        f"  {sys_pub}: {sys_jwt}\n}}\n"
    )
    return Operator(
        config=config, creds_file=creds, user_seed=seed, ops_creds_file=ops_creds, ops_seed=ops_seed
    )
