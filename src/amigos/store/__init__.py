"""Key-value state behind one small interface.

The VM sees state as ordered byte keys mapped to byte values. A backend only has to read one
key, scan a key range in order, and apply a set of writes atomically and durably. SQLite (WAL)
is the embedded default; PostgreSQL comes with the node.
"""

from .base import Store, Writes, prefix_end
from .sqlite import SQLiteStore

__all__ = ["Store", "Writes", "SQLiteStore", "prefix_end"]
