"""Each way a production NATS is secured, as a real server plus good and bad settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.security.servers import ConfServer, make_nkey, make_operator, make_tls, running

PASSWORD = "pw-Zq81-secret"
TOKEN = "tok-Hy72-secret"


@dataclass
class Mode:
    """A secured server and settings that get in (``good``) or are refused (``bad``)."""

    name: str
    config: str
    good: dict[str, Any]
    bad: dict[str, Any]
    secrets: list[str] = field(default_factory=list)
    scheme: str = "nats"
    refusal: str = "refused the login"  # what the bad settings' error says


def build_mode(name: str, tmp: Path) -> Mode:
    if name == "user_password":
        return Mode(
            name,
            f'authorization {{ users = [{{user: alice, password: "{PASSWORD}"}}] }}',
            good={"user": "alice", "password": PASSWORD},
            bad={"user": "alice", "password": "wrong-" + PASSWORD},
            secrets=[PASSWORD],
        )
    if name == "token":
        return Mode(
            name,
            f'authorization {{ token: "{TOKEN}" }}',
            good={"token": TOKEN},
            bad={"token": TOKEN + "-wrong"},
            secrets=[TOKEN],
        )
    if name == "nkey":
        key, other = make_nkey(tmp, "worker"), make_nkey(tmp, "stranger")
        return Mode(
            name,
            f"authorization {{ users = [{{nkey: {key.public}}}] }}",
            good={"nkey_seed_file": str(key.seed_file)},
            bad={"nkey_seed_file": str(other.seed_file)},
            secrets=[key.seed, other.seed],
        )
    if name == "creds":
        op, other = make_operator(tmp / "op"), make_operator(tmp / "other")
        return Mode(
            name,
            op.config,
            good={"creds_file": str(op.creds_file)},
            bad={"creds_file": str(other.creds_file)},
            secrets=[op.user_seed, other.user_seed],
        )
    tls = make_tls(tmp / "tls")
    if name == "tls":
        return Mode(
            name,
            tls.server_block(),
            good={"tls_ca_file": str(tls.ca)},
            bad={},  # the system trust store does not know the test CA
            scheme="tls",
            refusal="TLS handshake",
        )
    if name == "mutual_tls":
        return Mode(
            name,
            tls.server_block(verify=True),
            good={
                "tls_ca_file": str(tls.ca),
                "tls_cert_file": str(tls.client_cert),
                "tls_key_file": str(tls.client_key),
            },
            bad={"tls_ca_file": str(tls.ca)},  # no client certificate
            scheme="tls",
            refusal="TLS handshake",
        )
    if name == "tls_server_name":
        ca = trustme.CA()
        cert = ca.issue_cert("nats.internal.test")
        ca.cert_pem.write_to_path(str(tmp / "sn-ca.pem"))
        cert.cert_chain_pems[0].write_to_path(str(tmp / "sn.pem"))
        cert.private_key_pem.write_to_path(str(tmp / "sn.key"))
        return Mode(
            name,
            f'tls {{ cert_file: "{tmp / "sn.pem"}", key_file: "{tmp / "sn.key"}" }}',
            good={"tls_ca_file": str(tmp / "sn-ca.pem"), "tls_server_name": "nats.internal.test"},
            bad={"tls_ca_file": str(tmp / "sn-ca.pem")},  # 127.0.0.1 is not in the certificate
            scheme="tls",
            refusal="TLS handshake",
        )
    if name == "tls_first_nkey":
        key = make_nkey(tmp, "worker")
        return Mode(
            name,
            tls.server_block(handshake_first=True)
            + f"authorization {{ users = [{{nkey: {key.public}}}] }}",
            good={
                "tls_ca_file": str(tls.ca),
                "tls_handshake_first": True,
                "nkey_seed_file": str(key.seed_file),
            },
            bad={"tls_ca_file": str(tls.ca), "nkey_seed_file": str(key.seed_file)},
            secrets=[key.seed],
            scheme="tls",
            refusal="NATS_TLS_HANDSHAKE_FIRST",  # the server waits for a TLS hello: a timeout
        )
    raise AssertionError(name)


MODES = [
    "user_password",
    "token",
    "nkey",
    "creds",
    "tls",
    "mutual_tls",
    "tls_server_name",
    "tls_first_nkey",
]


@pytest.fixture(params=MODES)
def secured(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Mode, ConfServer]]:
    mode = build_mode(request.param, tmp_path / "keys")
    with running(tmp_path / "server", mode.config, scheme=mode.scheme) as server:
        yield mode, server
