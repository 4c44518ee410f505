"""The public, tamper-evident audit log (issue 6; format in docs/audit-log.md).

- `log`: the only writer (AuditLog: durable appends with group commit, one writer across processes)
- `hashing`: canonical JSON, event hashes, RFC 9162 Merkle tree and proofs
- `treehead`: Ed25519-signed tree heads and their publisher
- `phones`: refuses anything that looks like a phone number
- `api`: the public endpoints (/public/audit.log, /head, /heads, /proof, /consistency, /pubkey)
- `checks`, `replay`, `remote`, `verify`: what an outside auditor runs (`verify-audit`)
- `errors`: the typed errors, hierarchy drawn at the top
"""
