"""A fungible token: balances, transfers, allowances and events (the GRC20/ERC20 shape).

The deployer receives the whole supply. Balances live in a std.Map, so a transfer costs the
same with ten holders or ten million.
"""
import std

name = "Amigo Token"
symbol = "AMT"
decimals = 6
total_supply = 1_000_000_000_000

balances = std.Map()
allowances = std.Map()
balances[std.caller()] = total_supply


def balance_of(owner: str) -> int:
    """The balance of `owner`."""
    return balances.get(owner, 0)


def transfer(to: str, amount: int) -> bool:
    """Move `amount` from the caller to `to`."""
    _move(std.caller(), to, amount)
    return True


def approve(spender: str, amount: int) -> bool:
    """Let `spender` move up to `amount` of the caller's tokens."""
    std.require(amount >= 0, "amount must not be negative")
    allowances[(std.caller(), spender)] = amount
    std.emit("approval", owner=std.caller(), spender=spender, amount=amount)
    return True


def allowance(owner: str, spender: str) -> int:
    """How much `spender` may still move from `owner`."""
    return allowances.get((owner, spender), 0)


def transfer_from(owner: str, to: str, amount: int) -> bool:
    """Move `amount` from `owner` to `to` using the caller's allowance."""
    allowed = allowances.get((owner, std.caller()), 0)
    std.require(allowed >= amount, "allowance exceeded")
    allowances[(owner, std.caller())] = allowed - amount
    _move(owner, to, amount)
    return True


def _move(sender: str, to: str, amount: int) -> None:
    std.require(amount > 0, "amount must be positive")
    have = balances.get(sender, 0)
    std.require(have >= amount, "insufficient balance")
    balances[sender] = have - amount
    balances[to] = balances.get(to, 0) + amount
    std.emit("transfer", sender=sender, to=to, amount=amount)


def render(path: str) -> str:
    return f"# {name} ({symbol})\n\nTotal supply: {total_supply}"
