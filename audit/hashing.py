"""Canonical JSON, the event hash chain and the RFC 6962 / RFC 9162 Merkle tree over the log.

- Canonical JSON: `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`, UTF-8.
  Floats are refused (money is integer cents) so that every value has exactly one spelling.
- Event hash: hex SHA-256 of the canonical event without its `hash` field; `prev` of the first event
  is 64 zeros. The line written is the canonical event with `hash`.
- Merkle tree (RFC 9162 section 2.1.1): leaf = SHA-256(0x00 || line bytes without the newline),
  node = SHA-256(0x01 || left || right); MTH of n leaves splits at k = largest power of two < n.
- Proofs: inclusion (section 2.1.3) and consistency (section 2.1.4), generation and verification.
  Verification needs only hashes (storage-free), so an outside auditor can run it.

Leaf indexes are 0-based; event seq n is leaf n - 1.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from audit.errors import InvalidEvent, ProofError, RootMismatch

ZERO_HASH = "0" * 64
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha = hashlib.sha256


def canonical(obj: Any) -> bytes:
    """Canonical JSON bytes of `obj` (sorted keys, no spaces, UTF-8). Raises InvalidEvent on floats/NaN."""
    _refuse_floats(obj)
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise InvalidEvent(f"not canonical-JSON-able: {e}") from e


def _refuse_floats(obj: Any) -> None:
    if isinstance(obj, float):
        raise InvalidEvent("floats are not allowed in audit events (use integer cents / ppm)")
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise InvalidEvent(f"non-string key {k!r}")
            _refuse_floats(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _refuse_floats(v)


def event_hash(event_without_hash: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical event (all fields except `hash`)."""
    return _sha(canonical(event_without_hash)).hexdigest()


def leaf_hash(line: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || line), `line` without its trailing newline."""
    return _sha(b"\x00" + line).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node: SHA-256(0x01 || left || right)."""
    return _sha(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """MTH over `leaves` (already leaf-hashed), iteratively with a compact range; EMPTY_ROOT for none."""
    cr = CompactRange()
    for h in leaves:
        cr.append(h)
    return cr.root()


class CompactRange:
    """The right edge of the tree: roots of the perfect subtrees covering leaves [0, size).

    `append` is O(log n) amortised O(1); `root()` folds the edge right to left in O(log n). This is how
    the writer keeps the current root without re-reading the log (transparency-dev compact ranges).
    """

    __slots__ = ("size", "_stack")

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash (32 bytes)."""
        h = leaf
        n = self.size
        stack = self._stack
        while n & 1:
            h = node_hash(stack.pop(), h)
            n >>= 1
        stack.append(h)
        self.size += 1

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> CompactRange:
        """An independent copy (to compute a root without disturbing the writer's range)."""
        c = CompactRange()
        c.size, c._stack = self.size, list(self._stack)
        return c


class MerkleTree:
    """Proof generation over a growing list of leaf hashes, read through `leaf(i) -> 32 bytes`.

    Roots of aligned perfect subtrees of 256+ leaves never change in an append-only log, so they are
    cached: after warm-up a proof costs O(256 + log n) hashes instead of O(n).
    """

    CACHE_MIN = 256

    def __init__(self, leaf: Callable[[int], bytes], size: Callable[[], int]) -> None:
        self._leaf, self._size = leaf, size
        self._cache: dict[tuple[int, int], bytes] = {}

    def size(self) -> int:
        """Number of leaves available."""
        return self._size()

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) per RFC 9162 2.1.1 (requires 0 <= start <= end <= size)."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self._leaf(start)
        perfect = n & (n - 1) == 0 and start % n == 0
        if perfect and n >= self.CACHE_MIN:
            key = (start, n)
            got = self._cache.get(key)
            if got is None:
                k = n // 2
                got = node_hash(self.subtree(start, start + k), self.subtree(start + k, end))
                self._cache[key] = got
            return got
        k = _split(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, tree_size: int) -> bytes:
        """MTH of the first `tree_size` leaves. Raises ProofError if tree_size > size."""
        if not 0 <= tree_size <= self.size():
            raise ProofError(f"tree_size {tree_size} out of range 0..{self.size()}")
        return self.subtree(0, tree_size)

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """PATH(index, D[0:tree_size]) (RFC 9162 2.1.3.1). Requires 0 <= index < tree_size <= size."""
        if not 0 <= index < tree_size <= self.size():
            raise ProofError(f"need 0 <= index {index} < tree_size {tree_size} <= {self.size()}")
        return self._path(index, 0, tree_size)

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return self._path(m, start, start + k) + [self.subtree(start + k, end)]
        return self._path(m - k, start + k, end) + [self.subtree(start, start + k)]

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """PROOF(first, D[0:second]) (RFC 9162 2.1.4.1). Requires 0 < first <= second <= size."""
        if not 0 < first <= second <= self.size():
            raise ProofError(f"need 0 < first {first} <= second {second} <= {self.size()}")
        if first == second:
            return []
        return self._subproof(first, 0, second, True)

    def _subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if b else [self.subtree(start, end)]
        k = _split(n)
        if m <= k:
            return self._subproof(m, start, start + k, b) + [self.subtree(start + k, end)]
        return self._subproof(m - k, start + k, end, False) + [self.subtree(start, start + k)]


def root_from_inclusion_proof(index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by `proof` for `leaf` at `index` (RFC 9162 2.1.3.2). Raises ProofError on shape."""
    if not 0 <= index < tree_size:
        raise ProofError(f"need 0 <= index {index} < tree_size {tree_size}")
    fn, sn = index, tree_size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof too short")
    return r


def verify_inclusion(index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check an inclusion proof; raises RootMismatch(expected=root, calculated) or ProofError."""
    calc = root_from_inclusion_proof(index, tree_size, leaf, proof)
    if calc != root:
        raise RootMismatch(root.hex(), calc.hex(), tree_size, index + 1)


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Check a consistency proof (RFC 9162 2.1.4.2). Raises RootMismatch or ProofError.

    Requires 0 < first <= second. For first == second the proof must be empty and the roots equal.
    """
    if not 0 < first <= second:
        raise ProofError(f"need 0 < first {first} <= second {second}")
    if first == second:
        if proof:
            raise ProofError("proof must be empty for equal sizes")
        if first_root != second_root:
            raise RootMismatch(first_root.hex(), second_root.hex(), second)
        return
    if not proof:
        raise ProofError("empty consistency proof")
    path = list(proof)
    if first & (first - 1) == 0:  # exact power of two: the first root is itself a node of the proof
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof too short")
    if fr != first_root:
        raise RootMismatch(first_root.hex(), fr.hex(), first)
    if sr != second_root:
        raise RootMismatch(second_root.hex(), sr.hex(), second)


def proof_depth(tree_size: int) -> int:
    """Upper bound on proof length for a tree of `tree_size` leaves."""
    return math.ceil(math.log2(tree_size)) if tree_size > 1 else 0
