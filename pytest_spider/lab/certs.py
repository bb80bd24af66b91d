"""The lab's TLS material: one private CA and one server certificate for every lab server."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Final

import trustme

#: Names the server certificate is valid for; ``.test`` never resolves on the Internet.
LAB_DOMAIN: Final = "lab.test"


@dataclasses.dataclass(frozen=True)
class Certs:
    """PEM files: the CA clients trust, and the server's certificate chain and key."""

    ca: Path
    cert: Path
    key: Path


def issue(directory: Path) -> Certs:
    """Write a fresh CA and a certificate for ``lab.test`` and ``*.lab.test`` into ``directory``."""
    ca = trustme.CA(organization_name="pytest-spider lab")
    leaf = ca.issue_cert(LAB_DOMAIN, f"*.{LAB_DOMAIN}")
    certs = Certs(directory / "ca.pem", directory / "server-chain.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(certs.ca))
    leaf.private_key_pem.write_to_path(str(certs.key))
    with open(certs.cert, "wb") as chain:
        for blob in leaf.cert_chain_pems:
            chain.write(blob.bytes())
    return certs
