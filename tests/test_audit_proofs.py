"""Merkle roots, inclusion and consistency proofs, checked by an INDEPENDENT implementation written here
from the recursive definitions of RFC 6962 section 2.1 (not the code under test), plus signed heads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.errors import ProofError, RootMismatch
from audit.hashing import MerkleTree, verify_consistency, verify_inclusion
from audit.log import AuditLog
from audit.treehead import OperatorKey, verify_head_signature


# --- the independent reference: RFC 6962 2.1 definitions, recursive, over lists ------------------------
def H(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    """MTH over raw entries (leaf hashing included), exactly as RFC 6962 2.1 writes it."""
    if not d:
        return H(b"")
    if len(d) == 1:
        return H(b"\x00" + d[0])
    k = ref_k(len(d))
    return H(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_root_from_path(m: int, leaf: bytes, n: int, path: list[bytes]) -> bytes:
    """Rebuild the root from PATH(m, D[n]) by mirroring its recursion (the last element is the top sibling)."""
    if n == 1:
        assert not path, "path too long"
        return leaf
    assert path, "path too short"
    k = ref_k(n)
    if m < k:
        return H(b"\x01" + ref_root_from_path(m, leaf, k, path[:-1]) + path[-1])
    return H(b"\x01" + path[-1] + ref_root_from_path(m - k, leaf, n - k, path[:-1]))


def ref_roots_from_consistency(m: int, n: int, b: bool, proof: list[bytes], first_root: bytes) -> tuple[bytes, bytes]:
    """(old root, new root) rebuilt from SUBPROOF(m, D[n], b) by mirroring its recursion."""
    if m == n:
        if b:
            assert not proof
            return first_root, first_root
        assert len(proof) == 1
        return proof[0], proof[0]
    assert proof
    k = ref_k(n)
    if m <= k:
        old, new = ref_roots_from_consistency(m, k, b, proof[:-1], first_root)
        return old, H(b"\x01" + new + proof[-1])
    old, new = ref_roots_from_consistency(m - k, n - k, False, proof[:-1], first_root)
    return H(b"\x01" + proof[-1] + old), H(b"\x01" + proof[-1] + new)


def tree_over(entries: list[bytes]) -> MerkleTree:
    leaves = [H(b"\x00" + e) for e in entries]
    return MerkleTree(lambda i: leaves[i], lambda: len(leaves))


ENTRIES = [f"event {i}".encode() for i in range(1100)]
BIG = tree_over(ENTRIES)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 1100).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_proofs_check_out_independently(nm: tuple[int, int]) -> None:
    n, m = nm
    root = BIG.root(n)
    assert root == ref_mth(ENTRIES[:n]) if n <= 300 else True  # full recursion is slow past a few hundred
    proof = BIG.inclusion_proof(m, n)
    assert ref_root_from_path(m, H(b"\x00" + ENTRIES[m]), n, proof) == root
    verify_inclusion(m, n, H(b"\x00" + ENTRIES[m]), proof, root)  # the shipped verifier agrees


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 1100).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_consistency_proofs_check_out_independently(mn: tuple[int, int]) -> None:
    m, n = mn
    proof = BIG.consistency_proof(m, n)
    old, new = ref_roots_from_consistency(m, n, True, proof, BIG.root(m))
    assert (old, new) == (BIG.root(m), BIG.root(n))
    verify_consistency(m, n, BIG.root(m), BIG.root(n), proof)


def test_roots_equal_the_reference_for_small_trees() -> None:
    for n in range(0, 70):
        assert BIG.root(n) == ref_mth(ENTRIES[:n])


@pytest.mark.parametrize("n, m", [(7, 3), (8, 0), (1, 0), (300, 257), (1024, 1023)])
def test_tampered_inclusion_proofs_are_rejected(n: int, m: int) -> None:
    leaf, root = H(b"\x00" + ENTRIES[m]), BIG.root(n)
    proof = BIG.inclusion_proof(m, n)
    with pytest.raises(RootMismatch):
        verify_inclusion(m, n, H(b"\x00wrong leaf"), proof, root)
    if proof:
        with pytest.raises(RootMismatch):
            verify_inclusion(m, n, leaf, [proof[0][::-1]] + proof[1:], root)
        with pytest.raises(ProofError):
            verify_inclusion(m, n, leaf, proof[:-1], root)  # truncated proof
    with pytest.raises(ProofError):
        verify_inclusion(m, n, leaf, proof + [root], root)  # proof too long
    with pytest.raises((RootMismatch, ProofError)):
        verify_inclusion(m, 2 * n + 1, leaf, proof, root)  # a tree size of another shape


@pytest.mark.parametrize("m, n", [(3, 7), (4, 8), (1, 2), (6, 1100), (512, 1024)])
def test_tampered_consistency_proofs_are_rejected(m: int, n: int) -> None:
    proof = BIG.consistency_proof(m, n)
    with pytest.raises(RootMismatch):
        verify_consistency(m, n, BIG.root(m), H(b"other"), proof)
    with pytest.raises((RootMismatch, ProofError)):
        verify_consistency(m, n, H(b"other"), BIG.root(n), proof)
    with pytest.raises((RootMismatch, ProofError)):
        verify_consistency(m, n, BIG.root(m), BIG.root(n), proof[:-1])
    with pytest.raises(ProofError):
        verify_consistency(m, n, BIG.root(m), BIG.root(n), [])


def test_proofs_out_of_range_are_refused() -> None:
    with pytest.raises(ProofError):
        BIG.inclusion_proof(5, 5)
    with pytest.raises(ProofError):
        BIG.consistency_proof(0, 5)
    with pytest.raises(ProofError):
        BIG.consistency_proof(6, 5)
    with pytest.raises(ProofError):
        BIG.root(1101)


def test_log_root_is_the_rfc_root_of_its_lines_and_heads_are_signed(tmp_path: Path) -> None:
    key = OperatorKey.generate()
    lg = AuditLog(tmp_path / "audit.log", signer=key, heads_every_s=None)
    lg.append_many_sync([("vote", None, None, {"i": i}) for i in range(37)])
    head = lg.publish_head()
    lines = (tmp_path / "audit.log").read_bytes().splitlines()
    assert head["tree_size"] == 37 and head["root_hash"] == ref_mth(lines).hex()
    assert verify_head_signature(key.public_key_b64, head)
    assert not verify_head_signature(OperatorKey.generate().public_key_b64, head)
    assert not verify_head_signature(key.public_key_b64, {**head, "tree_size": 36})
    assert not verify_head_signature(key.public_key_b64, {**head, "signature": "not base64!"})
    lg.close()
