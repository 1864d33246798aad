"""The node: the sequencer that turns submitted transactions into durable blocks
(:mod:`.sequencer`), the :class:`Node` that owns a runtime, its ledger and the sequencer over a
home folder (:mod:`.node`), and the HTTP API over it (:mod:`.app`, imported on demand: it needs
Starlette, which nothing else here does). What it adds for accounts: signed reads
(:mod:`.auth`), sessions' IP ranges and webhooks (:mod:`.policies`, :mod:`.webhooks`) and a dev
node's faucet (:mod:`.faucet`)."""

from .auth import sign_read
from .node import Node
from .sequencer import Outcome, Sequencer, Submission, admit_statelessly
from .webhooks import verify_webhook

__all__ = ["Node", "Outcome", "Sequencer", "Submission", "admit_statelessly", "sign_read", "verify_webhook"]
