"""A fungible token: balances, transfers, allowances and events, the way GRC20 and ERC20 work.

The deployer receives the whole supply; there is no minting afterwards. Amounts are whole
numbers of the smallest unit (with `decimals = 6`, 1 AMT is 1_000_000 units).

- `transfer(to, amount)` moves the caller's tokens and emits `transfer`.
- `approve(spender, amount)` lets `spender` move up to `amount` of the caller's tokens with
  `transfer_from(owner, to, amount)`; it emits `approval`, and each spend lowers the allowance.

Balances live in a std.Map, so a transfer costs the same with ten holders or ten million.
"""
import std

name = "Amigo Token"
symbol = "AMT"
decimals = 6
total_supply = 1_000_000 * 10 ** decimals

balances = std.Map()     # account -> amount
allowances = std.Map()   # (owner, spender) -> amount
balances[std.caller()] = total_supply


def balance_of(owner: str) -> int:
    """The balance of `owner`."""
    return balances.get(owner, 0) if isinstance(owner, str) else 0


def transfer(to: str, amount: int) -> bool:
    """Move `amount` from the caller to `to`."""
    _move(std.caller(), to, amount)
    return True


def approve(spender: str, amount: int) -> bool:
    """Let `spender` move up to `amount` of the caller's tokens (0 withdraws the permission)."""
    _require_account(spender)
    _require_amount(amount, 0)
    allowances[(std.caller(), spender)] = amount
    std.emit("approval", owner=std.caller(), spender=spender, amount=amount)
    return True


def allowance(owner: str, spender: str) -> int:
    """How much `spender` may still move from `owner`."""
    if not (isinstance(owner, str) and isinstance(spender, str)):
        return 0
    return allowances.get((owner, spender), 0)


def transfer_from(owner: str, to: str, amount: int) -> bool:
    """Move `amount` from `owner` to `to`, spending the caller's allowance."""
    _require_account(owner)
    _require_amount(amount, 1)
    allowed = allowances.get((owner, std.caller()), 0)
    std.require(allowed >= amount, f"allowance exceeded: {allowed} left")
    allowances[(owner, std.caller())] = allowed - amount
    _move(owner, to, amount)
    return True


def render(path: str) -> str:
    """The main page shows the token; `balance/ACCOUNT` shows one balance."""
    if path.startswith("balance/"):
        account = path.removeprefix("balance/")
        if not _is_account(account):
            return "# Not an account\n"
        return f"# {symbol} balance\n\n`{account}` holds {_format(balance_of(account))} {symbol}.\n"
    return (
        f"# {name} ({symbol})\n\n"
        f"Total supply: {_format(total_supply)} {symbol}. Holders: {len(balances)}.\n"
    )


def _move(sender: str, to: str, amount: int) -> None:
    _require_account(to)
    _require_amount(amount, 1)
    have = balances.get(sender, 0)
    std.require(have >= amount, f"insufficient balance: {have} available")
    balances[sender] = have - amount
    balances[to] = balances.get(to, 0) + amount
    std.emit("transfer", sender=sender, to=to, amount=amount)


def _format(amount: int) -> str:
    """`amount` units as a decimal number of tokens: 1500000 -> "1.500000"."""
    whole, fraction = divmod(amount, 10 ** decimals)
    return f"{whole:,}.{fraction:0{decimals}d}"


def _require_account(account: str) -> None:
    std.require(_is_account(account), "an account is a string of 1 to 128 printable characters")


def _is_account(account: str) -> bool:
    # Accounts are shown in pages inside `code`: a backtick or a newline would break out of it.
    return (isinstance(account, str) and 0 < len(account) <= 128 and account.isprintable()
            and "`" not in account)


def _require_amount(amount: int, minimum: int) -> None:
    # bool is an int in Python: True must not pass for 1.
    std.require(isinstance(amount, int) and not isinstance(amount, bool), "an amount is an int")
    std.require(minimum <= amount <= total_supply, f"an amount is between {minimum} and the total supply")
