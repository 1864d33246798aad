"""The service runtime: check, instrument, meter and run deterministic Python services.

Read in this order: :mod:`.checker` (what source is allowed), :mod:`.instrument` (how it is
rewritten), :mod:`.guards` (what the rewritten operations charge), :mod:`.gas` (the schedule),
:mod:`.std` (what services see of the host), :mod:`.machine` (running one call, all or nothing).
"""

from .gas import DEFAULT_GAS, MAX_GAS
from .machine import Context, Event, Machine, Outcome
from .paths import HUB_DOMAIN, validate_path
from .service import CompiledService, compile_service

__all__ = [
    "DEFAULT_GAS",
    "MAX_GAS",
    "HUB_DOMAIN",
    "CompiledService",
    "Context",
    "Event",
    "Machine",
    "Outcome",
    "compile_service",
    "validate_path",
]
