"""The node: the sequencer that turns submitted transactions into durable blocks
(:mod:`.sequencer`); the HTTP API comes next."""

from .sequencer import Outcome, Sequencer, admit_statelessly

__all__ = ["Outcome", "Sequencer", "admit_statelessly"]
