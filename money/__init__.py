"""Delegate money: a demurrage currency that rewards participation (docs/money.md).

Modules: `amounts` (spoken amounts <-> cents), `ledger` (atomic Lua ledger: pay, mint, activation award),
`entries` (ledger entry format), `events` (audit events), `participation` (periods, who took part),
`demurrage` (period job, scheduler), `demurrage_cli`, `api` (public JSON), `keys`, `errors`.
"""
