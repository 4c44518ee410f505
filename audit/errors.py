"""Errors of the audit package. Every failure is a typed value carrying its evidence.

```
AuditError (Exception)
+-- PhoneNumberInEvent (also ValueError)   an event's text looks like a phone number; refused
+-- InvalidEvent (also ValueError)         not canonical-JSON-able (float, NaN, bad actor/subject shape)
+-- AuditWriteError (also OSError)         disk full / write / fsync failed; nothing half-written left
+-- ProofError (also ValueError)           a proof request out of range (seq, tree sizes)
+-- VerificationError                      the verifier found tampering; `line` is 1-based, or None
    +-- CanonicalFormError(line, reason)   a line is not canonical JSON or lacks a field
    +-- TornLine(line)                     the last line has no newline (crash mid-write)
    +-- SeqGap(line, expected, found)      seq is not previous + 1 (deleted / reordered)
    +-- InsertedLine(line)                 the next line links past this one: it was inserted
    +-- HashMismatch(line, expected, calculated)   the line's `hash` is not SHA-256 of its content
    +-- ChainBroken(line, expected_prev, found_prev) `prev` is not the previous line's `hash`
    +-- RootMismatch(expected, calculated, tree_size, line)  Merkle root differs from a signed head
    +-- BadSignature(head_index, tree_size)  a tree head's Ed25519 signature does not verify
    +-- InconsistentHeads(first, second)     two heads cannot both describe one append-only log
    +-- LogTruncated(tree_size, lines)       a signed head covers more events than the file holds
```

Modelled on transparency-dev/merkle (`RootMismatchError{ExpectedRoot, CalculatedRoot}`).
"""

from __future__ import annotations


class AuditError(Exception):
    """Base of every audit error."""


class PhoneNumberInEvent(AuditError, ValueError):
    """An event's text contains something that looks like a phone number (10+ digit run or E.164).

    Phone numbers never reach the public log (brief: "Never a phone number"). `field` is the JSON path
    of the offending value; the value itself is not repeated in the message.
    """

    def __init__(self, field: str) -> None:
        super().__init__(f"refused: {field} looks like a phone number; phone numbers never enter the audit log")
        self.field = field


class InvalidEvent(AuditError, ValueError):
    """The event cannot be written canonically (floats, NaN, non-str keys, bad actor/subject)."""


class AuditWriteError(AuditError, OSError):
    """Writing or fsyncing the log failed (e.g. ENOSPC). The file is cut back to its last good line."""


class ProofError(AuditError, ValueError):
    """A proof was asked for out of range: requires 1 <= seq <= tree_size <= log size, 0 < first <= second."""


class VerificationError(AuditError):
    """The verifier found the log or a head not as signed. `line` is 1-based, or None when not a line."""

    line: int | None = None


class CanonicalFormError(VerificationError):
    """Line `line` is not valid canonical JSON (sorted keys, no spaces, UTF-8) or lacks a field."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: not canonical: {reason}")
        self.line, self.reason = line, reason


class TornLine(VerificationError):
    """The last line `line` has no terminating newline: a write was cut short (crash)."""

    def __init__(self, line: int) -> None:
        super().__init__(f"line {line}: torn last line (no newline; the writer crashed mid-write)")
        self.line = line


class SeqGap(VerificationError):
    """Line `line` has seq `found` where `expected` (previous + 1) was due: a line deleted, inserted or moved."""

    def __init__(self, line: int, expected: int, found: int) -> None:
        super().__init__(f"line {line}: seq {found}, expected {expected}")
        self.line, self.expected, self.found = line, expected, found


class InsertedLine(VerificationError):
    """Line `line` is not in the chain: a copy of the line before, or the next line links past it."""

    def __init__(self, line: int) -> None:
        super().__init__(f"line {line}: inserted (a copy of the line before, or the next line links past it)")
        self.line = line


class HashMismatch(VerificationError):
    """Line `line` claims hash `expected` but its content hashes to `calculated`: the line was edited."""

    def __init__(self, line: int, expected: str, calculated: str) -> None:
        super().__init__(f"line {line}: hash field {expected[:16]}... but content hashes to {calculated[:16]}...")
        self.line, self.expected, self.calculated = line, expected, calculated


class ChainBroken(VerificationError):
    """Line `line` has `prev` = `found_prev` but the previous line's hash is `expected_prev`."""

    def __init__(self, line: int, expected_prev: str, found_prev: str) -> None:
        super().__init__(f"line {line}: prev {found_prev[:16]}... is not the previous hash {expected_prev[:16]}...")
        self.line, self.expected_prev, self.found_prev = line, expected_prev, found_prev


class RootMismatch(VerificationError):
    """The Merkle root over the first `tree_size` lines is `calculated`, the signed head says `expected`.

    `line` is the first line that may differ: the line after the largest head that still matched
    (the earliest possible tampered line given the signed heads), 1-based.
    """

    def __init__(self, expected: str, calculated: str, tree_size: int, line: int | None = None) -> None:
        where = f"line {line}: " if line else ""
        super().__init__(
            f"{where}Merkle root over {tree_size} events is {calculated[:16]}..., signed head says {expected[:16]}..."
        )
        self.expected, self.calculated, self.tree_size, self.line = expected, calculated, tree_size, line


class BadSignature(VerificationError):
    """Tree head number `head_index` (0-based, in the heads file) does not carry a valid operator signature."""

    def __init__(self, head_index: int, tree_size: int) -> None:
        super().__init__(f"tree head #{head_index} (tree_size {tree_size}): signature does not verify (forged)")
        self.head_index, self.tree_size = head_index, tree_size


class InconsistentHeads(VerificationError):
    """Heads `first` and `second` (tree sizes) are not consistent: history was rewritten between them."""

    def __init__(self, first: int, second: int, reason: str) -> None:
        super().__init__(f"tree heads {first} -> {second} are inconsistent: {reason}")
        self.first, self.second, self.reason = first, second, reason


class LogTruncated(VerificationError):
    """A signed head covers `tree_size` events but the file holds only `lines`: events were removed at the end."""

    def __init__(self, tree_size: int, lines: int) -> None:
        super().__init__(f"line {lines + 1}: signed head covers {tree_size} events, the file holds only {lines}")
        self.tree_size, self.lines, self.line = tree_size, lines, lines + 1
