"""Errors raised by the money package. Every refusal leaves the ledger unchanged.

    MoneyError
    +-- InvalidAmount          amount not a whole positive number of cents (or above MAX_CENTS)
    +-- InvalidAccount         account id empty, reserved ("pool", "mint") or shaped like a phone number
    +-- SameAccount            payer and payee are the same account
    +-- InsufficientFunds      payment larger than the payer's balance (carries .balance, .cents)
    +-- IdempotencyConflict    a `ref` already used for a different operation
    +-- InvariantViolation     sum(balances) + pool != minted - burned (a bug or a hand-edited database)
    +-- PeriodError            a demurrage period id that is malformed or was started with another rate

Each error has a `reason`: a short sentence the IVR can speak as is.
"""

from __future__ import annotations


class MoneyError(Exception):
    """Base of all money errors. `reason`: a sentence fit to be spoken to the caller."""

    reason = "That could not be done."

    def __init__(self, message: str = "", reason: str | None = None) -> None:
        super().__init__(message or self.reason)
        if reason:
            self.reason = reason


class InvalidAmount(MoneyError):
    """The amount is zero, negative, not an integer number of cents, or implausibly large."""

    reason = "The amount must be more than zero."


class InvalidAccount(MoneyError):
    """The account id is empty, reserved, or looks like a phone number (accounts are regn_nums)."""

    reason = "That account is not a registered voter."


class SameAccount(MoneyError):
    """Payer and payee are the same voter."""

    reason = "You cannot pay yourself."


class InsufficientFunds(MoneyError):
    """The payment exceeds the payer's balance. `balance` and `cents` are the figures at refusal."""

    reason = "That is more than your balance."

    def __init__(self, balance: int, cents: int) -> None:
        super().__init__(f"balance {balance} < {cents} cents")
        self.balance = balance
        self.cents = cents


class IdempotencyConflict(MoneyError):
    """The `ref` was already used for a different operation (different accounts or amount)."""


class InvariantViolation(MoneyError):
    """sum(balances) + pool != minted - burned."""


class PeriodError(MoneyError):
    """A demurrage period id is malformed, or the period was started with a different rate."""
