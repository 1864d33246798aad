"""The test vectors of docs/protocol.md: recomputed from the page alone, and regenerated.

Two guards: every vector's results are recomputed from its seed and fields as written in the
doc (so a hand edit, or a change in the code, fails here with the field that differs), and the
whole generated section must equal what scripts/protocol_vectors.py writes today.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from amigos import codec
from amigos.crypto import bech32
from amigos.crypto.keys import Account, address_of, parse_address, verify_signature
from amigos.ledger.tx import DOMAIN, SignedTransaction, sign

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "protocol.md"
SCRIPT = ROOT / "scripts" / "protocol_vectors.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("protocol_vectors", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("protocol_vectors", module)
    spec.loader.exec_module(module)
    return module


SCRIPT_MODULE = load_script()


def doc_vectors() -> list[dict[str, Any]]:
    """The JSON blocks of the generated section of the doc."""
    _, section, _ = SCRIPT_MODULE.split_doc(DOC.read_text(encoding="utf-8"))
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", section, re.S)]


VECTORS = doc_vectors()


def test_the_doc_has_vectors() -> None:
    assert len(VECTORS) >= 3
    assert any(v["transaction"]["expires_at"] is None for v in VECTORS)
    assert any(v["address"] != v["transaction"]["account"] for v in VECTORS), "a session-key vector"


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_recomputes_from_the_doc(vector: dict[str, Any]) -> None:
    key = Account.from_seed(bytes.fromhex(vector["seed"]))
    assert key.public_key.hex() == vector["public_key"]
    assert address_of(key.public_key) == vector["address"]
    raw = hashlib.sha256(key.public_key).digest()[:20]
    assert bech32.encode_bytes("amigo", raw) == vector["address"] and parse_address(vector["address"]) == raw

    tx = SCRIPT_MODULE.transaction_from_json(vector["transaction"])
    assert tx.public_key == key.public_key
    signing_bytes = tx.signing_bytes()
    assert signing_bytes.hex() == vector["signing_bytes"]
    assert signing_bytes.startswith(DOMAIN)

    stx = sign(tx, key)
    assert stx.signature.hex() == vector["signature"]
    assert verify_signature(key.public_key, signing_bytes, stx.signature)
    assert stx.encode().hex() == vector["signed_transaction"]
    assert stx.tx_hash.hex() == vector["tx_hash"]
    assert hashlib.sha256(bytes.fromhex(vector["signed_transaction"])).hexdigest() == vector["tx_hash"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_decodes_to_its_fields(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["signed_transaction"])
    stx = SignedTransaction.decode(data)
    assert SCRIPT_MODULE.transaction_json(stx.tx) == vector["transaction"]
    body, signature = codec.decode(data)
    assert signature.hex() == vector["signature"]
    assert (DOMAIN + codec.encode(body)).hex() == vector["signing_bytes"]


def test_the_doc_matches_the_generator() -> None:
    _, section, _ = SCRIPT_MODULE.split_doc(DOC.read_text(encoding="utf-8"))
    assert section == SCRIPT_MODULE.render(), (
        "docs/protocol.md is out of date: run .venv/bin/python scripts/protocol_vectors.py --write"
    )


def test_the_layout_adds_up_to_the_signing_bytes() -> None:
    """The annotated layout of vector 1 is the signing bytes, cut into its fields."""
    section = SCRIPT_MODULE.split_doc(DOC.read_text(encoding="utf-8"))[1]
    layout = re.search(r"```text\n(.*?)\n```", section, re.S)
    assert layout is not None
    hex_parts = [line.split()[0] for line in layout.group(1).splitlines()]
    assert "".join(hex_parts) == VECTORS[0]["signing_bytes"]
