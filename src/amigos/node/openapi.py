"""The OpenAPI 3.1 document of the node's API, served at ``/openapi.json``.

Written by hand, next to the handlers in :mod:`.app`; tests/test_api.py runs schemathesis
against it, so a route or a field that drifts from it fails the suite.
"""

from __future__ import annotations

from typing import Any

from .. import __version__

HEX = {"type": "string", "pattern": "^([0-9a-f]{2})*$", "description": "bytes in lower-case hex"}
HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "32 bytes in hex"}
UINT = {"type": "integer", "minimum": 0}
ANY: dict[str, Any] = {"description": "a service value as JSON (bytes as {\"$bytes\": hex}, decimals as {\"$decimal\": text})"}
SERVICE_PATH = r"^hub\.amigos\.dev(/[a-z][a-z0-9_]{0,63}){2,8}$"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, schema]}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None, *, closed: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}
    if closed:
        schema["additionalProperties"] = False
    return schema


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details; `code` is the last segment of `type`.",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "error": {"description": "the execution error of a failed query or render"},
            "tx_hash": HASH,
            "tx_hashes": {"type": "array", "items": HASH},
        },
    },
    "TreeHead": obj({
        "chain_id": {"type": "string"}, "height": UINT, "time": UINT, "size": UINT, "root": HASH,
        "state_hash": HASH, "node_key": HASH,
        "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
    }),
    "Event": obj({"service": {"type": "string"}, "name": {"type": "string"}, "attrs": ANY}),
    "ExecutionError": obj({"type": {"type": "string"}, "message": {"type": "string"}}),
    "InclusionProof": obj({"size": UINT, "hashes": {"type": "array", "items": HASH}}),
    "Receipt": obj({
        "tx_hash": HASH, "height": UINT, "index": UINT, "account": {"type": "string"}, "public_key": HASH,
        "nonce": UINT, "ok": {"type": "boolean"}, "results": {"type": "array", "items": ANY},
        "error": nullable(ref("ExecutionError")), "failed_message": nullable(UINT), "gas_used": UINT,
        "events": {"type": "array", "items": ref("Event")}, "writes_hash": HASH,
    }, {"leaf": HEX, "proof": ref("InclusionProof")}),
    "ConsistencyProof": obj({"from": UINT, "to": UINT, "hashes": {"type": "array", "items": HASH}}),
    "Refusal": obj({"code": {"type": "string"}, "detail": {"type": "string"}}),
    "SubmitRequest": {"oneOf": [
        obj({"tx": HEX}),
        obj({"txs": {"type": "array", "items": HEX, "minItems": 1, "maxItems": 2000}}),
    ]},
    "ReceiptResponse": obj(
        {"receipt": ref("Receipt"), "head": nullable(ref("TreeHead"))},
        {"consistency": nullable(ref("ConsistencyProof"))}),
    "BatchResponse": obj(
        {"outcomes": {"type": "array", "items": {"oneOf": [obj({"receipt": ref("Receipt")}), obj({"refused": ref("Refusal")})]}},
         "head": nullable(ref("TreeHead"))},
        {"consistency": nullable(ref("ConsistencyProof"))}),
    "Queued": obj({"tx_hash": HASH}),
    "QueuedBatch": obj({"outcomes": {"type": "array", "items": obj({"tx_hash": HASH}, {"refused": ref("Refusal")})}}),
    "NodeInfo": obj({"chain_id": {"type": "string"}, "node_key": HASH, "height": UINT, "size": UINT,
                     "version": {"type": "string"}, "head": nullable(ref("TreeHead"))}),
    "Index": obj({"name": {"type": "string"}, "version": {"type": "string"}, "api": {"type": "string"},
                  "openapi": {"type": "string"}}),
    "Block": obj({"height": UINT, "head": ref("TreeHead"), "first_index": UINT, "tx_hashes": {"type": "array", "items": HASH}},
                 {"leaves": {"type": "array", "items": HEX}}),
    "BlockPage": obj({"blocks": {"type": "array", "items": ref("Block")}, "next": nullable(UINT)}),
    "Function": obj({"name": {"type": "string"}, "signature": {"type": "string"}, "doc": nullable({"type": "string"}),
                     "line": UINT}),
    "Service": obj({
        "path": {"type": "string"}, "owner": {"type": "string"}, "version": UINT, "code_hash": {"type": "string"},
        "doc": nullable({"type": "string"}), "functions": {"type": "array", "items": ref("Function")},
        "dependencies": {"type": "array", "items": {"type": "string"}},
        "versions": {"type": "array", "items": obj({"version": UINT, "code_hash": {"type": "string"}, "height": UINT})},
        "height": UINT, "import": {"type": "string"},
    }, {"source": {"type": "string"}}),
    "ServiceList": obj({"services": {"type": "array", "items": ref("Service")}}),
    "State": obj({"globals": {"type": "object"}, "maps": {"type": "object"}}),
    "QueryRequest": obj({"function": {"type": "string"}},
                        {"args": {"type": "array"}, "kwargs": {"type": "object"}, "gas": {"type": "integer", "minimum": 1}}),
    "QueryResult": obj({"result": ANY}),
    "Rendered": obj({"service": {"type": "string"}, "path": {"type": "string"}, "markdown": {"type": "string"}}),
    "Account": obj({
        "address": {"type": "string"}, "keys": {"type": "array", "items": obj({"public_key": HASH, "last_nonce": UINT})},
        "balance": UINT, "staked": UINT,
        "unbonding": {"type": "array", "items": obj({"amount": UINT, "released_at": UINT})},
        "master_key": nullable(HASH), "frozen": {"type": "boolean"},
        "guardians": nullable(obj({
            "members": {"type": "array", "items": {"type": "string"}}, "threshold": UINT, "timelock": UINT,
            "pending_change": nullable(obj({"guardians": nullable({"type": "object"}), "effective_at": UINT}))})),
        "recovery": nullable(obj({"votes": {"type": "array", "items": obj({"guardian": {"type": "string"}, "new_key": HASH})},
                                  "new_key": nullable(HASH), "unlock_at": nullable(UINT)})),
        "recovery_key": nullable(obj({"public_key": HASH, "timelock": UINT, "takeover": nullable(
            obj({"new_key": HASH, "announced_at": UINT, "unlock_at": UINT}))})),
        "private": nullable(ref("AccountPrivate")),
    }),
    "AccountPrivate": obj({
        "reader": obj({"public_key": HASH, "role": {"enum": ["master", "session"]}}),
        "sessions": {"type": "array", "items": ref("Session")},
        "webhook": nullable({"type": "string"}),
    }),
    "Session": obj({
        "public_key": HASH, "device": {"type": "string"}, "permissions": {"type": "array", "items": {"type": "string"}},
        "granted_at": UINT, "expires_at": UINT, "active": {"type": "boolean"}, "revoked_at": nullable(UINT),
        "daily_limit": nullable(UINT), "remaining_today": nullable(UINT), "window_ends_at": nullable(UINT),
        "tx_limit": nullable(UINT), "services": nullable({"type": "array", "items": {"type": "string"}}),
        "ip_ranges": nullable({"type": "array", "items": {"type": "string"}}), "last_used": nullable(UINT),
    }),
    "Genesis": obj({"allocations": {"type": "object", "additionalProperties": UINT}}),
    "FaucetRequest": obj({"address": {"type": "string"}}),
    "FaucetResponse": obj(
        {"amount": UINT, "from": {"type": "string"}, "receipt": ref("Receipt"), "head": nullable(ref("TreeHead"))}),
}


def json_content(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"content": {media: {"schema": schema}}}


def ok(description: str, schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, **json_content(schema)}}


def problems(*statuses: int) -> dict[str, Any]:
    """Problem responses; every operation may also answer 400 (bad input) and 503 (stopping)."""
    return {str(s): {"description": "a problem", **json_content(ref("Problem"), "application/problem+json")}
            for s in sorted({400, 503, *statuses})}


def query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def header(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": schema, "description": description}


def path(name: str, schema: dict[str, Any], description: str, example: str | None = None) -> dict[str, Any]:
    parameter = {"name": name, "in": "path", "required": True, "schema": schema, "description": description}
    if example is not None:
        parameter["example"] = example
    return parameter


# The service path goes into the URL as it is, slashes included (the route takes the rest of
# the URL); the example tells generators that slashes belong in it.
SERVICE = path("path", {"type": "string", "pattern": SERVICE_PATH}, "a service path", "hub.amigos.dev/alice/counter")
HEIGHT = path("height", {"type": "integer", "minimum": 1}, "a block height")
SINCE = query("since", UINT, "the size of the last tree head the client saw: the answer adds a consistency proof")
RENDER_PATH = query("path", {"type": "string"}, "the sub-path passed to the service's render(path)")


def operation(summary: str, responses: dict[str, Any], parameters: list[dict[str, Any]] | None = None,
              body: dict[str, Any] | None = None, tag: str = "node") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, **json_content(body)}
    return op


def paths() -> dict[str, Any]:
    return {
        "/": {"get": operation("What this server is", ok("name and version", ref("Index")) | problems())},
        "/openapi.json": {"get": operation("This document", ok("the OpenAPI document", {"type": "object"}) | problems())},
        "/v1/node": {"get": operation("The node: chain id, key, latest head", ok("node", ref("NodeInfo")) | problems())},
        "/v1/transactions": {"post": operation(
            "Submit a signed transaction ({tx}) or a batch ({txs})",
            ok("the receipt(s), with inclusion proofs against one signed head",
               {"oneOf": [ref("ReceiptResponse"), ref("BatchResponse")]})
            | ok("queued (wait=false)", {"oneOf": [ref("Queued"), ref("QueuedBatch")]}, "202")
            | problems(403, 409, 413, 422, 504),
            [query("wait", {"type": "boolean"}, "wait for the receipts (default true)"), SINCE],
            ref("SubmitRequest"), "log")},
        "/v1/receipts/{tx_hash}": {"get": operation(
            "A receipt and its inclusion proof (against the latest head, or the head of tree size `size`)",
            ok("the receipt", ref("ReceiptResponse")) | problems(404, 409),
            [path("tx_hash", HASH, "the transaction hash"), query("size", UINT, "prove against this tree size"), SINCE],
            tag="log")},
        "/v1/heads/latest": {"get": operation("The latest signed tree head", ok("head", ref("TreeHead")) | problems(404), tag="log")},
        "/v1/heads/{height}": {"get": operation("The signed tree head of a block", ok("head", ref("TreeHead")) | problems(404),
                                                [HEIGHT], tag="log")},
        "/v1/proofs/consistency": {"get": operation(
            "A consistency proof between two tree sizes",
            ok("the proof", ref("ConsistencyProof")) | problems(404),
            [query("from", UINT, "the older tree's size", required=True), query("to", UINT, "the newer tree's size (default: latest)")],
            tag="log")},
        "/v1/blocks": {"get": operation(
            "Blocks from a height on", ok("a page of blocks", ref("BlockPage")) | problems(),
            [query("from", {"type": "integer", "minimum": 1}, "first height (default 1)"),
             query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "most blocks (default 20)"),
             query("leaves", {"type": "boolean"}, "include each receipt's leaf bytes")], tag="log")},
        "/v1/blocks/latest": {"get": operation(
            "The latest block", ok("the block", ref("Block")) | problems(404),
            [query("leaves", {"type": "boolean"}, "include each receipt's leaf bytes")], tag="log")},
        "/v1/blocks/{height}": {"get": operation(
            "A block: its head and its receipts' transaction hashes", ok("the block", ref("Block")) | problems(404),
            [HEIGHT, query("leaves", {"type": "boolean"}, "include each receipt's leaf bytes")], tag="log")},
        "/v1/services": {"get": operation("Every deployed service", ok("services", ref("ServiceList")) | problems(),
                                          tag="services")},
        "/v1/services/{path}": {"get": operation(
            "A service: source, functions, dependencies, versions, owner",
            ok("the service", ref("Service")) | problems(404), [SERVICE], tag="services")},
        "/v1/state/{path}": {"get": operation(
            "A service's persistent state", ok("globals and maps", ref("State")) | problems(404),
            [SERVICE, query("entries", {"type": "integer", "minimum": 0, "maximum": 1000}, "entries shown per map (default 20)")],
            tag="services")},
        "/v1/query/{path}": {
            "get": operation(
                "Call a function read-only", ok("its result", ref("QueryResult")) | problems(404, 422),
                [SERVICE, query("function", {"type": "string"}, "the function", required=True),
                 query("args", {"type": "string"}, "positional arguments: a JSON array (default [])"),
                 query("kwargs", {"type": "string"}, "keyword arguments: a JSON object (default {})"),
                 query("gas", {"type": "integer", "minimum": 1}, "gas limit")], tag="services"),
            "post": operation(
                "Call a function read-only", ok("its result", ref("QueryResult")) | problems(404, 413, 422),
                [SERVICE], ref("QueryRequest"), tag="services"),
        },
        "/v1/render/{path}": {"get": operation(
            "The service's page as markdown",
            {"200": {"description": "markdown", "content": {"text/markdown": {"schema": {"type": "string"}}}}}
            | problems(404, 422), [SERVICE, RENDER_PATH], tag="services")},
        "/v1/render/{path}.json": {"get": operation(
            "The service's page as markdown in JSON", ok("markdown", ref("Rendered")) | problems(404, 422),
            [SERVICE, RENDER_PATH], tag="services")},
        "/v1/render/{path}.html": {"get": operation(
            "The service's page as HTML",
            {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}
            | problems(404, 422), [SERVICE, RENDER_PATH], tag="services")},
        "/v1/accounts/{address}": {"get": operation(
            "An account: keys and nonces, AMI, guardians, recovery; its sessions and webhook for a signed read",
            ok("the account", ref("Account")) | problems(403),
            [path("address", {"type": "string"}, "an amigo1… address"), query("key", HASH, "only this public key"),
             header("Amigos-Key", HASH, "signed read: the signing key (master or an active session)"),
             header("Amigos-Time", {"type": "string", "pattern": "^[0-9]{1,19}$"}, "signed read: Unix seconds"),
             header("Amigos-Signature", {"type": "string", "pattern": "^[0-9a-f]{128}$"},
                    "signed read: Ed25519 signature (see docs/api.md)")],
            tag="accounts")},
        "/v1/genesis": {"get": operation("The chain's genesis: initial AMI balances", ok("the genesis", ref("Genesis"))
                                         | problems(), tag="accounts")},
        "/v1/faucet": {"post": operation(
            "Dev nodes only: send the faucet's drip of AMI to an address",
            ok("the faucet's send, with its receipt", ref("FaucetResponse")) | problems(404, 413, 429, 504),
            body=ref("FaucetRequest"), tag="accounts")},
        "/v1/events": {"get": operation(
            "Server-Sent Events: `receipt` and `event` messages as blocks commit",
            {"200": {"description": "an event stream; each message's data is JSON",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}}}} | problems(),
            [query("account", {"type": "string"}, "only transactions signed for this address or emitting events about it"),
             query("service", {"type": "string"}, "only transactions and events touching this service path"),
             query("from", UINT, "first log index to send (default: what commits from now on)"),
             query("limit", {"type": "integer", "minimum": 1, "maximum": 100000}, "close after this many messages")],
            tag="events")},
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Amigos node",
            "version": __version__,
            "description": "Signed transactions, a transparent Merkle log and live services. See docs/api.md.",
        },
        "paths": paths(),
        "components": {"schemas": SCHEMAS},
    }
