"""The node: the sequencer that turns submitted transactions into durable blocks
(:mod:`.sequencer`), the :class:`Node` that owns a runtime, its ledger and the sequencer over a
home folder (:mod:`.node`), and the HTTP API over it (:mod:`.app`, imported on demand: it needs
Starlette, which nothing else here does)."""

from .node import Node
from .sequencer import Outcome, Sequencer, admit_statelessly

__all__ = ["Node", "Outcome", "Sequencer", "admit_statelessly"]
