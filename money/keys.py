"""Redis keys of the money package (all under `money:*`, see docs/money.md) and account-id rules."""

from __future__ import annotations

from money.errors import InvalidAccount, InvalidAmount

BAL = "money:bal"  # hash: account (regn_num) -> balance in cents
ACCOUNTS = "money:accounts"  # zset, score 0: every account that ever held money, in lexical order
POOL = "money:pool"  # string: the demurrage pool, cents
MINTED = "money:minted"  # string: cents ever minted (sovereign mints + activation awards)
BURNED = "money:burned"  # string: cents ever destroyed (nothing burns yet; kept for the invariant)
ENTRIES = "money:entries"  # list: one entry per movement, "type|debit|credit|cents|ref|unix_ms|extra"
REFS = "money:refs"  # hash: idempotency ref -> "signature|result"
AWARDED = "money:awarded"  # hash: regn_num -> k, the voters who got the activation reward
ACTIVATIONS = "money:activations"  # string: k of the last rewarded activation
OUTBOX = "money:outbox"  # list: entries committed but not yet on the audit log

POOL_ACCOUNT = "pool"  # name of the pool in entries and balances.json
MINT_ACCOUNT = "mint"  # the debit side of mints and awards (the only account allowed below zero)
RESERVED = frozenset({POOL_ACCOUNT, MINT_ACCOUNT})

MAX_CENTS = 10**15  # ten trillion dollars; keeps every sum exact in Lua's doubles (< 2**53)


def period_key(period_id: str) -> str:
    """Hash holding the state of one demurrage period (phase, cursor, totals)."""
    return f"money:dm:{period_id}"


def participants_key(period_id: str) -> str:
    """Set of regn_nums of the verified voters who acted in the period."""
    return f"money:part:{period_id}"


def check_account(account: object) -> str:
    """Return `account` if it can hold money: a non-empty regn_num-like str, not reserved, without
    spaces or '|', not shaped like an E.164 phone number. Raises InvalidAccount."""
    if (
        not isinstance(account, str)
        or not account
        or len(account) > 64
        or account in RESERVED
        or account.startswith("+")
        or any(c.isspace() or c == "|" for c in account)
    ):
        raise InvalidAccount(f"invalid account id {account!r}"[:80])
    return account


def check_cents(cents: object) -> int:
    """Return `cents` if it is an int in 1..MAX_CENTS (bool excluded). Raises InvalidAmount."""
    if isinstance(cents, bool) or not isinstance(cents, int) or not 0 < cents <= MAX_CENTS:
        raise InvalidAmount(f"invalid amount {cents!r} (whole cents, 1..{MAX_CENTS})"[:80])
    return cents
