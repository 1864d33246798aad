"""``amigos recovery …``: getting an account back when its master key is lost.

Social recovery: the master names guardians (other accounts) and how many of them must agree
(``recovery guardians set``). To recover, make a new key (``amigos account new NAME``) and ask
the guardians to approve it (``recovery approve ACCOUNT NEW_KEY``, signed by each guardian).
Once enough agree, a time lock runs (48 hours unless the owner chose longer); until it ends
the old master can stop it (``recovery cancel``), and after it anyone finalises it
(``recovery finalize ACCOUNT``). Then ``recovery adopt ACCOUNT --key NAME`` makes your new key
sign for the account.

Recovery key: a separate key the master names (``recovery key set``) that can take the account
over by announcing it and waiting out a longer time lock (``recovery takeover announce``, then
``recovery takeover finalize``), which the master can cancel (``recovery takeover cancel``).

While a recovery or takeover is under way the account's sessions cannot spend; once it is
finalised the old master key signs nothing and every session is revoked.
"""

from __future__ import annotations

from typing import Any

from ..accounts.recovery import DEFAULT_RECOVERY_TIMELOCK, DEFAULT_TAKEOVER_TIMELOCK
from ..errors import UsageError
from . import Commands
from .accountargs import (
    add_yes,
    address,
    chosen_address,
    confirmed,
    declined,
    duration,
    print_outcome,
    public_key,
    signing_client,
)
from .context import Context
from .output import EXIT_OK
from .wallet import when

TARGET = ("home", "node", "signer")


def register(commands: Commands) -> None:
    recovery = commands.group("recovery", "guardians, recovery keys, and getting an account back",
                              description=__doc__.split("\n\n", 1)[1])
    guardians = recovery.group("guardians", "the accounts that may recover yours together")
    p = guardians.add("set", "name your guardians and how many must agree (empty: none)", set_guardians, takes=TARGET,
                      epilog="Changing guardians you already have takes effect after their time lock.")
    p.add_argument("guardians", nargs="*", metavar="GUARDIAN", help="addresses or keystore accounts")
    p.add_argument("--threshold", type=int, metavar="M", help="how many guardians must approve a recovery")
    p.add_argument("--timelock", type=duration, default=DEFAULT_RECOVERY_TIMELOCK, metavar="DURATION",
                   help="wait between enough approvals and the recovery (default: 48h; at least 24h)")
    add_yes(p)
    p = guardians.add("show", "show an account's guardians, recovery key and any recovery under way", show,
                      takes=TARGET)
    p.add_argument("account", nargs="?", metavar="ADDRESS", help="default: yours")

    p = recovery.add("approve", "as a guardian: approve giving ACCOUNT the master key NEW_KEY", approve, takes=TARGET)
    p.add_argument("account", metavar="ACCOUNT", help="the account to recover (address or keystore account)")
    p.add_argument("new_key", metavar="NEW_KEY", help="its new master key: hex, or a keystore account")
    add_yes(p)
    recovery.add("cancel", "as the master: stop a recovery of your account", cancel, takes=TARGET)
    p = recovery.add("finalize", "complete a recovery whose time lock ran out (anyone may)", finalize, takes=TARGET)
    p.add_argument("account", metavar="ACCOUNT", help="the account being recovered")
    p = recovery.add("adopt", "after a recovery: make a keystore key sign for the account it now masters", adopt)
    p.add_argument("account", metavar="ACCOUNT", help="the recovered account's address")
    p.add_argument("--key", required=True, metavar="NAME", help="the keystore account holding the new master key")

    key = recovery.group("key", "the time-locked recovery key")
    p = key.add("set", "name the recovery key of your account", set_key, takes=TARGET)
    p.add_argument("key", metavar="KEY", help="its public key: hex, or a keystore account")
    p.add_argument("--timelock", type=duration, default=DEFAULT_TAKEOVER_TIMELOCK, metavar="DURATION",
                   help="wait between announcing a takeover and making it (default: 14d; at least 7d)")
    key.add("remove", "remove the recovery key of your account", remove_key, takes=TARGET)

    takeover = recovery.group("takeover", "a recovery key taking an account over")
    p = takeover.add("announce", "as the recovery key: announce that NEW_KEY becomes the master", announce,
                     takes=TARGET, helps={"signer": "the keystore account holding the recovery key"})
    p.add_argument("new_key", metavar="NEW_KEY", help="the new master key: hex, or a keystore account")
    p.add_argument("--account", required=True, metavar="ADDRESS", help="the account to take over")
    takeover.add("cancel", "as the master: stop a takeover of your account", cancel_takeover, takes=TARGET)
    p = takeover.add("finalize", "as the recovery key: complete a takeover whose time lock ran out", finalize_takeover,
                     takes=TARGET, helps={"signer": "the keystore account holding the recovery key"})
    p.add_argument("--account", required=True, metavar="ADDRESS", help="the account to take over")


# --------------------------------------------------------------------------- guardians


def set_guardians(ctx: Context) -> int:
    args = ctx.args
    chosen = [address(ctx, g) for g in args.guardians]
    if chosen and args.threshold is None:
        raise UsageError("--threshold M: how many of the guardians must approve a recovery")
    if not chosen and args.threshold is not None:
        raise UsageError("--threshold goes with guardians; with none named, the guardians are removed")
    with signing_client(ctx) as client:
        if chosen:
            ctx.out.note(f"guardians of {ctx.acting_address()}: {args.threshold} of\n"
                         + "\n".join(f"  {g}" for g in chosen)
                         + f"\nmay give it a new master key, {args.timelock // 3600} hours after they agree", "bold")
        else:
            ctx.out.note(f"remove every guardian of {ctx.acting_address()}", "bold")
        if not confirmed(ctx, "set these guardians?" if chosen else "remove the guardians?"):
            return declined(ctx.out, "the guardians were not changed")
        receipt = client.set_guardians(chosen, args.threshold, args.timelock)
    scheduled = [e for e in receipt.events if e.name == "guardians_change_scheduled"]
    text = (f"the change of guardians takes effect at {when(scheduled[0].attrs['effective_at'])}" if scheduled
            else f"guardians set: {args.threshold} of {len(chosen)}" if chosen else "guardians removed")
    return print_outcome(ctx.out, receipt, text)


def show(ctx: Context) -> int:
    who = chosen_address(ctx)
    with ctx.client() as client:
        info = client.account(who)
    shown = {"address": who, **{k: info[k] for k in ("master_key", "frozen", "guardians", "recovery", "recovery_key")}}
    if ctx.out.json:
        ctx.out.data(shown)
    else:
        ctx.out.line(describe_recovery(shown))
    return EXIT_OK


def describe_recovery(info: dict[str, Any]) -> str:
    lines = [info["address"]]
    if info["master_key"] is not None:
        lines.append(f"  master key    {info['master_key']} (installed by a recovery)")
    guardians = info["guardians"]
    if guardians is None or not guardians["members"]:
        lines.append("  guardians     none")
    else:
        lines.append(f"  guardians     {guardians['threshold']} of {len(guardians['members'])}, "
                     f"time lock {guardians['timelock'] // 3600} hours")
        lines.extend(f"    {member}" for member in guardians["members"])
    if guardians is not None and guardians["pending_change"] is not None:
        change = guardians["pending_change"]
        members = (change["guardians"] or {}).get("members") or []
        lines.append(f"  changing to   {', '.join(members) or 'none'} at {when(change['effective_at'])}")
    recovery = info["recovery"]
    if recovery is not None:
        votes = ", ".join(f"{v['guardian']} → {v['new_key'][:16]}…" for v in recovery["votes"])
        lines.append(f"  recovery      approvals: {votes or 'none'}")
        if recovery["new_key"] is not None:
            lines.append(f"                to key {recovery['new_key']}, can be finalised from {when(recovery['unlock_at'])}")
    key = info["recovery_key"]
    lines.append(f"  recovery key  {key['public_key']} (time lock {key['timelock'] // 86400} days)" if key
                 else "  recovery key  none")
    if key is not None and key["takeover"] is not None:
        lines.append(f"  takeover      to key {key['takeover']['new_key']}, "
                     f"can be finalised from {when(key['takeover']['unlock_at'])}")
    if info["frozen"]:
        lines.append("  frozen        sessions cannot spend while this is under way")
    return "\n".join(lines)


# --------------------------------------------------------------------------- social recovery


def approve(ctx: Context) -> int:
    account, new_key = address(ctx, ctx.args.account), public_key(ctx, ctx.args.new_key)
    with signing_client(ctx) as client:
        ctx.out.note(f"as a guardian, approve giving {account}\n  the new master key {new_key.hex()}\n"
                     "only if its owner asked you for exactly this key (check it with them)", "bold")
        if not confirmed(ctx, "approve this recovery?"):
            return declined(ctx.out, "nothing was approved")
        receipt = client.approve_recovery(account, new_key)
    started = [e for e in receipt.events if e.name == "recovery_started"]
    approved = [e for e in receipt.events if e.name == "recovery_approved"][0].attrs
    text = (f"approved: enough guardians agree; the recovery can be finalised from {when(started[0].attrs['unlock_at'])}"
            if started else f"approved ({approved['approvals']} of {approved['threshold']} needed)")
    return print_outcome(ctx.out, receipt, text)


def cancel(ctx: Context) -> int:
    with signing_client(ctx) as client:
        receipt = client.cancel_recovery()
    return print_outcome(ctx.out, receipt, "the recovery was cancelled")


def finalize(ctx: Context) -> int:
    account = address(ctx, ctx.args.account)
    with signing_client(ctx) as client:
        receipt = client.finalize_recovery(account)
    return finished(ctx, receipt, account)


def finished(ctx: Context, receipt: Any, account: str) -> int:
    new_key = receipt.events[0].attrs["new_key"]
    return print_outcome(ctx.out, receipt, f"{account} now has the master key {new_key} (every session was revoked); "
                                           "on the device holding it: amigos recovery adopt "
                                           f"{account} --key NAME")


def adopt(ctx: Context) -> int:
    stored = ctx.settings.keystore.act_for(ctx.args.key, address(ctx, ctx.args.account))
    if ctx.out.json:
        ctx.out.data({"ok": True, "account": stored.to_dict()})
    else:
        ctx.out.line(f"{stored.name} now signs for {stored.acts_as}")
    return EXIT_OK


# --------------------------------------------------------------------------- recovery key


def set_key(ctx: Context) -> int:
    key = public_key(ctx, ctx.args.key)
    with signing_client(ctx) as client:
        receipt = client.set_recovery_key(key, ctx.args.timelock)
    return print_outcome(ctx.out, receipt, f"recovery key set: {key.hex()}, time lock {ctx.args.timelock // 86400} days")


def remove_key(ctx: Context) -> int:
    with signing_client(ctx) as client:
        receipt = client.set_recovery_key(None)
    return print_outcome(ctx.out, receipt, "recovery key removed")


def announce(ctx: Context) -> int:
    account, new_key = address(ctx, ctx.args.account), public_key(ctx, ctx.args.new_key)
    with signing_client(ctx, account) as client:
        receipt = client.announce_takeover(new_key)
    unlock_at = receipt.events[0].attrs["unlock_at"]
    return print_outcome(ctx.out, receipt, f"takeover of {account} announced: it can be finalised from {when(unlock_at)}")


def cancel_takeover(ctx: Context) -> int:
    with signing_client(ctx) as client:
        receipt = client.cancel_takeover()
    return print_outcome(ctx.out, receipt, "the takeover was cancelled")


def finalize_takeover(ctx: Context) -> int:
    account = address(ctx, ctx.args.account)
    with signing_client(ctx, account) as client:
        receipt = client.finalize_takeover()
    return finished(ctx, receipt, account)
