"""Errors of the liquid-democracy engine.

```
* DelegationError            anything the engine refuses; state is unchanged when it is raised
  + SelfDelegation           cannot_delegate_to_self: a voter named themselves as delegate
  + UnknownVoter             the registration number is not on the voter roll (`vr:v:{regn}`)
  + InvalidRank              a backup rank outside 1..max_rank (R7)
  + InvalidChoice            a vote other than "yes" | "no" | "abstain" (R5)
  + BillError
    x UnknownBill            no bill with that key (e.g. "119-hr-1234")
    x BillClosed             the bill closed at its floor vote; its graph and votes are frozen (R9)
```
"""

from __future__ import annotations


class DelegationError(Exception):
    """Base class: the request was refused and nothing was written."""


class SelfDelegation(DelegationError):
    """Invariant `cannot_delegate_to_self` (LiquidFeedback `cant_delegate_to_yourself`)."""

    def __init__(self, voter: str) -> None:
        super().__init__(f"voter {voter} cannot delegate to themselves")
        self.voter = voter


class UnknownVoter(DelegationError):
    """No registration with this regn_num."""

    def __init__(self, regn_num: str) -> None:
        super().__init__(f"unknown voter {regn_num!r}")
        self.regn_num = regn_num


class InvalidRank(DelegationError):
    """A delegation rank outside 1..max_rank (rank 1 = first choice, 2 and 3 = backups)."""

    def __init__(self, rank: int, max_rank: int) -> None:
        super().__init__(f"rank {rank} is outside 1..{max_rank}")
        self.rank, self.max_rank = rank, max_rank


class InvalidChoice(DelegationError):
    """A vote choice other than yes, no or abstain."""

    def __init__(self, choice: str) -> None:
        super().__init__(f"invalid choice {choice!r}; expected yes, no or abstain")
        self.choice = choice


class BillError(DelegationError):
    """Base class of the bill lifecycle errors."""


class UnknownBill(BillError):
    """No bill with this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"unknown bill {key!r}")
        self.key = key


class BillClosed(BillError):
    """The bill closed at `closed_at` (UTC ISO-8601); its delegations and votes are frozen (R9)."""

    def __init__(self, key: str, closed_at: str) -> None:
        super().__init__(f"bill {key} closed at {closed_at}")
        self.key, self.closed_at = key, closed_at
