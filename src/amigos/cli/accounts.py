"""``amigos account …`` (the keystore) and ``amigos config …`` (saved defaults).

Secret seeds are shown only by ``account export NAME --secret`` and, split into SLIP-39 shares,
by ``account backup``; they are read only from a file or standard input (never from the command
line, which other users can see in the process list).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from ..crypto.keys import SEED_SIZE, Account, is_canonical_address
from ..errors import UsageError
from ..keystore import (
    PROTECTIONS,
    KeystoreError,
    StoredAccount,
    check_name,
    keyring_backend,
)
from ..wallet import combine_shares, split_seed
from ..wallet.backup import MAX_SHARES
from . import Commands
from .accountargs import add_yes, ask, confirmed, declined
from .context import Context
from .output import EXIT_OK
from .settings import SETTINGS, check_node_url, read_passphrase


def register(commands: Commands) -> None:
    account = commands.group("account", "make and manage the accounts that sign for you",
                             description="Accounts live in a keystore in your config folder "
                                         "($AMIGOS_CONFIG, else $XDG_CONFIG_HOME/amigos, else ~/.config/amigos), "
                                         "sealed with a passphrase ($AMIGOS_PASSPHRASE or asked) or kept in the OS keyring.")
    p = account.add("new", "make a new account (a fresh Ed25519 key)", new)
    p.add_argument("name", type=account_name, help="a short name: lower-case letters, digits, _ and -")
    add_protection(p)
    p = account.add("import", "store an existing secret seed as an account", import_)
    p.add_argument("name", type=account_name)
    p.add_argument("--from", dest="file", type=Path, default=None, metavar="FILE",
                   help="read the seed (64 hex digits) from FILE, or - for standard input (default: asked, hidden)")
    add_protection(p)
    p = account.add("list", "list your accounts", list_)
    p.add_argument("-q", "--quiet", action="store_true", help="names only, one a line")
    p = account.add("show", "show an account: address, public key, where it is kept", show)
    p.add_argument("name", nargs="?", type=account_name, help="default: the default account")
    p = account.add("use", "make an account the default signer", use)
    p.add_argument("name", type=account_name)
    p = account.add("export", "print an account's public key and address; its secret seed with --secret", export)
    p.add_argument("name", nargs="?", type=account_name, help="default: the default account")
    p.add_argument("--secret", action="store_true", help="print the secret seed too (whoever sees it owns the account)")
    p = account.add("backup", "split an account's seed into SLIP-39 shares to keep in separate places", backup,
                    epilog="The shares are printed, never stored: write each down and keep them apart.\n"
                           "Any THRESHOLD of them restore the account (`amigos account restore`); fewer tell nothing.")
    p.add_argument("name", nargs="?", type=account_name, help="default: the default account")
    p.add_argument("--shares", type=int, required=True, metavar="N", help=f"how many shares (1 to {MAX_SHARES})")
    p.add_argument("--threshold", type=int, required=True, metavar="M", help="how many of them restore the seed")
    add_yes(p, "print the shares without asking to confirm")
    p = account.add("restore", "make an account again from its SLIP-39 shares", restore,
                    epilog="Shares are read one a line from --from FILE, or standard input (asked one by one on "
                           "a terminal); blank lines and lines starting with # are skipped.")
    p.add_argument("name", type=account_name, help="the name to keep it under")
    p.add_argument("--from", dest="file", type=Path, default=None, metavar="FILE",
                   help="read the shares from FILE, or - for standard input (default: standard input)")
    p.add_argument("--for", dest="acting_for", metavar="ADDRESS",
                   help="the account this key signs for, if not its own (a session key, or a recovered master)")
    add_yes(p, "store it without asking to confirm the address")
    add_protection(p)

    config = commands.group("config", "see and change saved defaults",
                            description="The default node (`config set node URL`); the default account is "
                                        "set with `amigos account use NAME`.")
    p = config.add("list", "print every saved default and where they are kept", config_list)
    p = config.add("get", "print one saved default", config_get)
    p.add_argument("key", choices=SETTINGS)
    p = config.add("set", "save the default node: `config set node URL`", config_set)
    p.add_argument("key", choices=("node",))
    p.add_argument("value")
    p = config.add("unset", "forget a saved default", config_unset)
    p.add_argument("key", choices=SETTINGS)
    p = config.add("forget-node", "forget the key pinned for a node (after resetting it on purpose)", forget_node)
    p.add_argument("url")


MAX_SHARES_TEXT = 64 * 1024
"""The most text ``account restore`` reads (16 shares of 33 words fit many times over)."""


def account_name(text: str) -> str:
    """An argparse type: a bad name is a usage error (exit 2) before anything is read."""
    try:
        return check_name(text)
    except KeystoreError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_protection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protect", choices=PROTECTIONS, default=None,
                        help="seal the seed with a passphrase, or keep it in the OS keyring "
                             "(default: the keyring if one is usable, else a passphrase)")


def protection(ctx: Context) -> str:
    chosen = ctx.args.protect
    if chosen is None:
        return "keyring" if keyring_backend() is not None else "passphrase"
    return chosen


def new_passphrase() -> str:
    passphrase = read_passphrase("passphrase for the new key: ", confirm=True)
    if not passphrase:
        raise UsageError("an empty passphrase would leave the key open to whoever copies the file")
    return passphrase


def keep(ctx: Context, name: str, account: Account, *, acting_for: str | None = None) -> tuple[StoredAccount, bool]:
    """Store ``account`` as ``name`` under the chosen protection; the first account kept becomes
    the default. Its entry, and whether it became the default."""
    stored = ctx.settings.keystore.create(name, account, protection=protection(ctx), passphrase=new_passphrase,
                                          acting_for=acting_for)
    first = ctx.settings.get("account") is None
    if first:
        ctx.settings.set("account", name)
    return stored, first


def store(ctx: Context, name: str, account: Account, *, acting_for: str | None = None) -> int:
    stored, first = keep(ctx, name, account, acting_for=acting_for)
    if ctx.out.json:
        ctx.out.data({"ok": True, "account": stored.to_dict(), "default": first})
    else:
        ctx.out.line(f"account {ctx.out.paint(name, 'bold')}: {stored.address}")
        ctx.out.note(f"  kept in {stored.path} ({stored.protection})" + ("; it is your default account" if first else ""))
    return EXIT_OK


def new(ctx: Context) -> int:
    return store(ctx, ctx.args.name, Account.generate())


def read_given(file: Path, limit: int, encoding: str) -> str:
    """At most ``limit`` characters of the text in ``file``, or of standard input for ``-``."""
    if str(file) == "-":
        return sys.stdin.read(limit)
    try:
        return file.read_text(encoding=encoding)[:limit]
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {file}: {exc}") from None


def read_seed(file: Path | None) -> bytes:
    if file is None:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to ask the seed on: pass --from FILE (or --from - to read standard input)")
        text = getpass.getpass("secret seed (64 hex digits): ")
    else:
        text = read_given(file, 1024, "ascii")
    try:
        seed = bytes.fromhex(text.strip())
    except ValueError:
        seed = b""
    if len(seed) != SEED_SIZE:
        raise UsageError(f"a secret seed is {SEED_SIZE} bytes in hex ({2 * SEED_SIZE} digits)")
    return seed


def import_(ctx: Context) -> int:
    return store(ctx, ctx.args.name, Account.from_seed(read_seed(ctx.args.file)))


def list_(ctx: Context) -> int:
    out = ctx.out
    accounts = ctx.settings.keystore.accounts()
    default = ctx.settings.get("account")
    if out.json:
        out.data([{**a.to_dict(), "default": a.name == default} for a in accounts])
    elif ctx.args.quiet:
        for a in accounts:
            out.line(a.name)
    else:
        for a in accounts:
            mark = out.paint(" (default)", "green") if a.name == default else ""
            out.line(f"{out.paint(a.name, 'bold')}  {a.address}  {out.paint(a.protection, 'dim')}{mark}")
        if not accounts:
            out.note("no accounts yet: `amigos account new NAME` makes one")
    return EXIT_OK


def chosen(ctx: Context) -> StoredAccount:
    name = ctx.args.name or ctx.settings.get("account")
    if name is None:
        raise UsageError("which account? give its name (no default account is set)")
    return ctx.settings.keystore.get(name)


def show(ctx: Context) -> int:
    stored = chosen(ctx)
    default = stored.name == ctx.settings.get("account")
    if ctx.out.json:
        ctx.out.data({**stored.to_dict(), "default": default})
    else:
        ctx.out.line(f"{ctx.out.paint(stored.name, 'bold')}{' (default)' if default else ''}")
        ctx.out.line(f"  address     {stored.address}")
        ctx.out.line(f"  public key  {stored.public_key.hex()}")
        ctx.out.line(f"  kept in     {stored.path} ({stored.protection})")
    return EXIT_OK


def use(ctx: Context) -> int:
    stored = ctx.settings.keystore.get(ctx.args.name)
    ctx.settings.set("account", stored.name)
    if ctx.out.json:
        ctx.out.data({"ok": True, "account": stored.name})
    else:
        ctx.out.line(f"{stored.name} ({stored.address}) is now the default account")
    return EXIT_OK


def export(ctx: Context) -> int:
    stored = chosen(ctx)
    exported = {"name": stored.name, "address": stored.address, "public_key": stored.public_key.hex()}
    if ctx.args.secret:
        account = ctx.settings.unlock(stored.name)
        exported["seed"] = account.seed.hex()
        ctx.out.note("warning: the seed below is the account itself: whoever sees it can sign as "
                     f"{stored.address}. Keep it offline; import it with `amigos account import NAME --from FILE`.",
                     "yellow")
    if ctx.out.json:
        ctx.out.data(exported)
    else:
        for key, value in exported.items():
            ctx.out.line(f"{key:<11} {value}")
    return EXIT_OK


def backup(ctx: Context) -> int:
    stored = chosen(ctx)
    account = ctx.settings.unlock(stored.name)
    shares = split_seed(account.seed, shares=ctx.args.shares, threshold=ctx.args.threshold)
    ctx.out.note(f"warning: the {len(shares)} shares below are the account {stored.address}: any "
                 f"{ctx.args.threshold} of them sign as it. Write each on paper and keep them apart; never "
                 "store them together, in a file, a photo or a chat. They are shown once and kept nowhere.", "yellow")
    if not confirmed(ctx, "print the shares now?"):
        return declined(ctx.out, "no shares were printed")
    if ctx.out.json:
        ctx.out.data({"address": stored.address, "threshold": ctx.args.threshold, "shares": shares})
        return EXIT_OK
    for number, share in enumerate(shares, 1):
        ctx.out.line(f"share {number} of {len(shares)}:\n{share}\n")
    ctx.out.note(f"restore with: amigos account restore NAME (then type any {ctx.args.threshold} shares)")
    return EXIT_OK


def read_shares(file: Path | None) -> list[str]:
    """Shares one a line, from FILE or standard input; on a terminal, asked one by one until an
    empty answer."""
    if file is None and sys.stdin.isatty():
        lines = []
        while line := ask(f"share {len(lines) + 1} (an empty line when done): "):
            lines.append(line)
        text = "\n".join(lines)
    else:
        text = read_given(Path("-") if file is None else file, MAX_SHARES_TEXT, "utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def restore(ctx: Context) -> int:
    acting_for = ctx.args.acting_for
    if acting_for is not None and not is_canonical_address(acting_for):
        raise UsageError("--for is an amigo1… address (lower case)")
    account = Account.from_seed(combine_shares(read_shares(ctx.args.file)))
    ctx.out.note(f"these shares restore the account {account.address}"
                 + (f", to sign for {acting_for}" if acting_for else "")
                 + ": check it is the address you expect", "bold")
    if not confirmed(ctx, f"keep it as {ctx.args.name}?"):
        return declined(ctx.out, "nothing was stored")
    return store(ctx, ctx.args.name, account, acting_for=acting_for)


def config_list(ctx: Context) -> int:
    saved = ctx.settings.load()
    if ctx.out.json:
        ctx.out.data({"folder": str(ctx.settings.folder), **saved})
    else:
        ctx.out.note(f"config folder {ctx.settings.folder}")
        for key in SETTINGS:
            ctx.out.line(f"{key:<8} {saved.get(key, '')}")
    return EXIT_OK


def config_get(ctx: Context) -> int:
    value = ctx.settings.get(ctx.args.key)
    if ctx.out.json:
        ctx.out.data({ctx.args.key: value})
    elif value is not None:
        ctx.out.line(str(value))
    return EXIT_OK


def config_set(ctx: Context) -> int:
    url = check_node_url(ctx.args.value)
    ctx.settings.set("node", url)
    if ctx.out.json:
        ctx.out.data({"ok": True, "node": url})
    else:
        ctx.out.line(f"node = {url}: commands without --node or --home now work on it")
    return EXIT_OK


def config_unset(ctx: Context) -> int:
    ctx.settings.set(ctx.args.key, None)
    if ctx.out.json:
        ctx.out.data({"ok": True})
    return EXIT_OK


def forget_node(ctx: Context) -> int:
    url = check_node_url(ctx.args.url)
    forgot = ctx.settings.forget_node(url)
    if ctx.out.json:
        ctx.out.data({"ok": True, "forgot": forgot})
    else:
        ctx.out.line(f"forgot the key pinned for {url}" if forgot else f"no key was pinned for {url}")
    return EXIT_OK
