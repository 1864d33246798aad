"""A counter anyone can increment."""
import std

count = 0


def increment(by: int = 1) -> int:
    """Add `by` (a positive int) and return the new value."""
    global count
    std.require(by > 0, "by must be positive")
    count += by
    std.emit("incremented", by=by, caller=std.caller())
    return count


def get() -> int:
    """The current value."""
    return count


def render(path: str) -> str:
    return f"# Counter\n\nValue: **{count}**"
