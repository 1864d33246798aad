"""A username registry: one readable name per account, free and first come, first served.

Other services show `@alice` instead of an address by asking `display_name(address)`; the
forum and the guestbook do. A name is 3 to 32 characters: lower-case letters, digits and
underscores, starting with a letter. An account holds at most one name, and can hand it to
another account or give it up.

    from hub.amigos import names
    names.display_name(std.caller())   # "@alice", or the address if it has no name
"""
import std

MIN_LENGTH = 3
MAX_LENGTH = 32
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"
RESERVED = ["admin", "amigos", "hub", "moderator", "root", "support", "system"]
"""Names nobody can register: they would pass for the platform speaking."""

owners = std.Map()   # name -> account
names = std.Map()    # account -> name


def register(name: str) -> str:
    """Register `name` for the caller and return it."""
    account = std.caller()
    problem = _name_problem(name)
    std.require(problem == "", problem)
    std.require(name not in owners, f"the name {name} is taken")
    std.require(account not in names, f"you already have the name {names.get(account)}")
    owners[name] = account
    names[account] = name
    std.emit("registered", name=name, owner=account)
    return name


def transfer(name: str, to: str) -> None:
    """Hand the caller's `name` to the account `to`, which must not have a name yet."""
    account = std.caller()
    std.require(owners.get(name) == account, "only the owner of a name can transfer it")
    _require_account(to)
    std.require(to not in names, f"{to} already has a name")
    owners[name] = to
    del names[account]
    names[to] = name
    std.emit("transferred", name=name, sender=account, to=to)


def release(name: str) -> None:
    """Give up the caller's `name`; anyone may register it again."""
    account = std.caller()
    std.require(owners.get(name) == account, "only the owner of a name can release it")
    del owners[name]
    del names[account]
    std.emit("released", name=name, owner=account)


def lookup(name: str) -> str:
    """The account that owns `name`, or "" if nobody does."""
    return owners.get(name, "") if isinstance(name, str) else ""


def reverse(account: str) -> str:
    """The name of `account`, or "" if it has none."""
    return names.get(account, "") if isinstance(account, str) else ""


def display_name(account: str) -> str:
    """How to show `account` to people: "@name" if it has a name, else the account itself."""
    name = reverse(account)
    return "@" + name if name else account


def render(path: str) -> str:
    """The main page explains the rules; `path` = a name shows who owns it."""
    if path == "" or _name_problem(path) != "":
        return (
            "# Names\n\n"
            f"{len(owners)} names registered. Register yours with `register(name)`: "
            f"{MIN_LENGTH} to {MAX_LENGTH} lower-case letters, digits or underscores, "
            "starting with a letter.\n"
        )
    owner = lookup(path)
    if owner == "":
        return f"# @{path}\n\nThis name is free.\n"
    return f"# @{path}\n\nOwned by `{owner}`.\n"


def _name_problem(name: str) -> str:
    """What is wrong with `name` as a new name, or "" if nothing is."""
    if not isinstance(name, str):
        return "a name must be a string"
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        return f"a name has {MIN_LENGTH} to {MAX_LENGTH} characters"
    if not all(c in ALPHABET for c in name) or not name[0].isalpha():
        return "a name has only lower-case letters, digits and underscores, and starts with a letter"
    if name in RESERVED:
        return f"the name {name} is reserved"
    return ""


def _require_account(account: str) -> None:
    std.require(_is_account(account), "an account is a string of 1 to 128 printable characters")


def _is_account(account: str) -> bool:
    # Accounts are shown in pages inside `code`: a backtick or a newline would break out of it.
    return (isinstance(account, str) and 0 < len(account) <= 128 and account.isprintable()
            and "`" not in account)
