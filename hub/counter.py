"""A counter anyone can increment: the smallest useful service.

`count` is a module global, so it is the service's state: every successful call that changes
it is saved, and a failed call changes nothing.
"""
import std

count = 0


def increment(by: int = 1) -> int:
    """Add `by` (a positive int) to the count and return the new count."""
    global count
    # bool is an int in Python: True must not pass for 1.
    std.require(isinstance(by, int) and not isinstance(by, bool), "by must be an int")
    std.require(by > 0, "by must be positive")
    count += by
    std.emit("incremented", by=by, caller=std.caller())
    return count


def get() -> int:
    """The current count."""
    return count


def render(path: str) -> str:
    """The page of the counter (it has no sub-pages)."""
    return f"# Counter\n\nValue: **{count}**\n"
