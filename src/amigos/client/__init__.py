"""The SDK: Amigos services from Python, on a running node or in a local runtime, with the
same code. ::

    import amigos
    acct = amigos.Account.generate()
    client = amigos.connect("http://127.0.0.1:8700", account=acct)   # or a folder: local
    client.deploy(f"hub.amigos.dev/{acct.address}/counter", source)
    counter = client.service(f"hub.amigos.dev/{acct.address}/counter")
    counter.increment(2)           # a signed call; its receipt proven in the node's log
    counter.query.get()            # a read

    wallet = amigos.connect(folder, account=acct, genesis={acct.address: 10_000})  # a local ledger
    wallet.send(bob_address, 250)  # AMI, sessions, recovery: docs/accounts.md, :mod:`.accounts`
    phone = amigos.connect(url, account=phone_key, acting_for=acct.address)        # a device's session

``amigos.aconnect`` is the asyncio twin. See docs/sdk.md; :mod:`.protocol` for what a node
client checks, and docs/api.md for the HTTP API underneath.
"""

from .anode import AsyncNodeClient
from .connecting import AsyncClient, Client, aconnect, connect
from .local import LOCAL_NODE_KEY, LOCAL_SIGNER, AsyncLocalClient, LocalClient
from .node import NodeClient
from .proxy import AsyncServiceProxy, ServiceProxy
from .receipt import InclusionProof, Receipt

__all__ = [
    "LOCAL_NODE_KEY",
    "LOCAL_SIGNER",
    "AsyncClient",
    "AsyncLocalClient",
    "AsyncNodeClient",
    "AsyncServiceProxy",
    "Client",
    "InclusionProof",
    "LocalClient",
    "NodeClient",
    "Receipt",
    "ServiceProxy",
    "aconnect",
    "connect",
]
