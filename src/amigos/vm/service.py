"""A service's source, checked and compiled once per code hash."""

from __future__ import annotations

import ast
import copy
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from types import CodeType

from .checker import Analysis, Export, check_service
from .instrument import Instrumenter, instrument, std_names
from .std import STD_EXPORTS


@dataclass(frozen=True)
class CompiledService:
    path: str
    source: str
    code_hash: str
    analysis: Analysis
    init_code: CodeType
    load_code: CodeType

    @property
    def exports(self) -> dict[str, Export]:
        return self.analysis.exports

    @property
    def dependencies(self) -> list[str]:
        return self.analysis.dependencies

    def upgrade_code(self, existing_state: frozenset[str]) -> CodeType:
        """The initialiser for an upgrade: only top-level assignments that introduce globals
        which hold no state yet. Everything else ran once, at the first deploy."""
        tree = copy.deepcopy(self.analysis.tree)
        tree.body = [s for s in tree.body if _introduces_new_globals(s, existing_state)]
        return compile(Instrumenter(std_names(self.analysis))(tree, self.analysis), self.path, "exec")


def _introduces_new_globals(stmt: ast.stmt, existing: frozenset[str]) -> bool:
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        targets = [stmt.target]
    else:
        return False
    if not all(isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.Starred, ast.Store)) for t in targets for n in ast.walk(t)):
        return False
    assigned = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return bool(assigned) and not any(n in existing for n in assigned)


def code_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


@lru_cache(maxsize=512)
def compile_service(path: str, source: str) -> CompiledService:
    """Check and compile ``source`` for ``path``; raises :class:`~amigos.errors.DeployError`."""
    analysis = check_service(source, STD_EXPORTS)
    init_code, load_code = instrument(analysis, path)
    return CompiledService(path, source, code_hash(source), analysis, init_code, load_code)
