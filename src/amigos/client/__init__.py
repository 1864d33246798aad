"""The SDK: a running node's services from Python, with every receipt checked against the
node's signed, append-only log. ::

    import amigos
    acct = amigos.Account.generate()
    node = amigos.connect("http://127.0.0.1:8700", account=acct)
    node.deploy(f"hub.amigos.dev/{acct.address}/counter", source)
    r = node.call(f"hub.amigos.dev/{acct.address}/counter", "increment", 2)   # signed, proven
    node.query(f"hub.amigos.dev/{acct.address}/counter", "get")

See :mod:`.node` for what is checked, and docs/api.md for the HTTP API underneath.
"""

from .node import NodeClient, connect
from .proxy import AsyncServiceProxy, ServiceProxy
from .receipt import InclusionProof, Receipt

__all__ = ["AsyncServiceProxy", "InclusionProof", "NodeClient", "Receipt", "ServiceProxy", "connect"]
