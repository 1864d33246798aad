"""A guestbook: every account may sign it once, with a short message.

The page lists the newest entries with their authors' names from the names registry
(`@alice`), and the block time they signed at.
"""
import std
from hub.amigos import names

MAX_MESSAGE = 280
PAGE_SIZE = 20

entries = std.Map()    # number -> {"author", "message", "time"}
signed = std.Map()     # account -> the number of its entry
entry_count = 0


def sign(message: str) -> int:
    """Sign the guestbook with `message`; return the entry's number."""
    global entry_count
    author = std.caller()
    std.require(isinstance(message, str) and 0 < len(message.strip()) and len(message) <= MAX_MESSAGE,
                f"a message is text of 1 to {MAX_MESSAGE} characters")
    std.require(author not in signed, f"you signed already, as entry {signed.get(author)}")
    entry_count += 1
    entries[entry_count] = {"author": author, "message": message, "time": std.time()}
    signed[author] = entry_count
    std.emit("signed", number=entry_count, author=author)
    return entry_count


def entry(number: int) -> dict:
    """The entry `number`: author, message and time."""
    std.require(isinstance(number, int) and not isinstance(number, bool) and number in entries,
                f"no entry {number!r}")
    return entries[number]


def entry_of(account: str) -> int:
    """The number of the entry `account` signed, or 0."""
    return signed.get(account, 0) if isinstance(account, str) else 0


def render(path: str) -> str:
    """The newest entries (the guestbook has one page)."""
    lines = ["# Guestbook", "", f"{entry_count} signatures. Sign with `sign(message)`."]
    for number in range(entry_count, max(entry_count - PAGE_SIZE, 0), -1):
        item = entries[number]
        lines.extend(["", f"**{names.display_name(item['author'])}** at {item['time']}:", "",
                      # a block quote: whatever the message holds stays inside it
                      "\n".join("> " + line for line in item["message"].splitlines())])
    return "\n".join(lines) + "\n"
