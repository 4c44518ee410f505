"""Runs the dialogue's effect requests against our stores and returns result events.

Commit order for every state change: validate, append the event to the public audit log (durable,
fsync) and only then apply it to Redis; the caller hears the confirmation after both. A failure before
the append changes nothing; the audit log is the system of record from which the state can be replayed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis

from ivr import metrics
from ivr.messages import (
    AuditFor,
    AuditReport,
    AuditStep,
    Balance,
    BalanceIs,
    BillInfo,
    BillsFound,
    CallerIdentified,
    CheckVerification,
    Claimed,
    ClaimTentative,
    DelegateIs,
    EffectFailed,
    FindBill,
    FindVoter,
    IdentifyCaller,
    LookupDelegate,
    Person,
    RecordDelegation,
    Recorded,
    RecordMint,
    RecordNoDelegation,
    RecordPayment,
    RecordRecall,
    RecordVote,
    StartVerification,
    VerificationChecked,
    VerificationStarted,
    VoterMatched,
)
from ivr.once import ONCE_TTL_S, OnceAudit, Recent, end_operation, op_key, operation
from voter_registry.model import Voter

log = logging.getLogger(__name__)
RECENT_BILLS = 3
MAX_RANK = 3  # a first choice and two ranked backups (liquid_democracy.md R7)
TENTATIVE = "tentative"  # the dialogue's voter id for an unregistered caller (ivr.dialogue.TENTATIVE)
STORAGE_RETRY_S = (0.2, 0.5, 1.0, 2.0, 4.0)  # an action on the audit log waits out a Valkey restart
ACTIONS = (RecordDelegation, RecordNoDelegation, RecordRecall, RecordVote, RecordPayment, RecordMint, ClaimTentative)


def person(v: Voter) -> Person:
    """The dialogue's view of a voter: public name, first name, street; never the phone."""
    street = " ".join(w.capitalize() for w in v.street.split())
    return Person(v.regn_num, v.first, v.public_name, street, v.county)


def bill_info(b: Any) -> BillInfo:
    """The dialogue's view of a `delegation.bills.Bill`."""
    return BillInfo(b.key, b.spoken_number, b.name.rstrip(". "), b.closed_at is not None)


@dataclass
class Effects:
    """Our stores, as the dialogue needs them. All arguments are built once by `ivr.app`."""

    r: aioredis.Redis
    voters: Any  # voter_registry.store.VoterStore
    matcher: Any  # voter_registry.matcher.Matcher
    delegations: Any  # delegation.store.DelegationStore
    bills: Any  # delegation.bills.BillStore
    audit: Any  # audit.log.AuditLog
    ledger: Any = None  # money.ledger.Ledger, appending its own audit events
    activations_to_reward: int = 0
    sovereigns: frozenset[str] = frozenset()
    require_attestation: bool = True
    period_s: int = 7 * 24 * 3600
    guards: Any = None  # ivr.guards.Guards: rate limits, concurrent-call cap, allow/deny prefixes
    captcha_digits: int = 0
    dial: Any = None  # async (to, from_, connection_id, client_state) -> call_control_id
    connection_id: str = ""
    verified_for_s: int = 30 * 24 * 3600
    verify_dial_delay_s: float = 4.0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        from ivr.asr_hints import PlaceHints
        from voter_registry.tentative import TentativeStore

        self.tentative = TentativeStore(self.r)
        self.hints = PlaceHints(self.r)
        self.audit = OnceAudit(self.audit, self.r)  # a re-run action is logged once, across workers (ivr.once)
        self._results = Recent()

    async def run(self, req: Any, ctx: Any = None) -> Any:
        """Execute one effect request for the call whose state is `ctx` (an `ivr.dialogue.CallState`, for
        the caller ID and its SHAKEN/STIR attestation); never raises (failures become `EffectFailed`)."""
        handler = getattr(self, "_" + type(req).__name__, None)
        if handler is None:
            return EffectFailed(f"no handler for {type(req).__name__}")
        op = op_key(ctx.call_id, ctx.version, req) if ctx is not None and isinstance(req, ACTIONS) else None
        if op is not None and op in self._results:  # the same webhook re-run after a later failure
            return self._results[op]
        started = time.perf_counter()
        token = operation(op)
        try:
            if op is not None and (first := await self._first_result(op)) is not None:
                return first  # a re-run on another worker (this one's memory is per process)
            result = await handler(req, ctx)
        except Exception as exc:  # a store or disk failure must not crash the call
            log.exception("effect %s failed", type(req).__name__)
            metrics.ERRORS.labels(type(req).__name__).inc()
            return EffectFailed(str(exc))
        finally:
            end_operation(token)
        if op is not None and (isinstance(result, Claimed) or getattr(result, "ok", False)):
            self._results.put(op, result)
            try:
                await self.r.set(f"ivr:op:{op}", _result_json(result), ex=ONCE_TTL_S)
            except redis.RedisError:  # the log still holds the event once (ivr.once); only the wording may differ
                log.warning("result of %s not kept for a re-run", type(req).__name__)
        if isinstance(req, FindVoter):
            metrics.MATCH_SECONDS.observe(time.perf_counter() - started)
        if isinstance(result, Recorded) and result.ok:
            metrics.ACTIONS.labels(type(req).__name__.removeprefix("Record").lower()).inc()
        return result

    async def _first_result(self, op: str) -> Recorded | Claimed | None:
        """The result an earlier run of action `op` answered, kept in Valkey (`ivr:op:{op}`), or None."""
        raw = await self.r.get(f"ivr:op:{op}")
        return _result_from_json(raw) if raw else None

    async def _IdentifyCaller(self, req: IdentifyCaller, ctx: Any = None) -> CallerIdentified:  # noqa: N802
        from voter_registry.auditors import auditor_for

        refusal = await self.guards.admit_call(req.call_id, req.caller_id) if self.guards else None
        voters = await self.voters.by_phone(req.caller_id) if req.caller_id else []
        county = voters[0].county if voters else None
        office, phone = auditor_for(county, req.caller_id)
        trusted = await self.trusted(req.caller_id, req.attestation, req.validated)
        captcha = "".join(secrets.choice("123456789") for _ in range(self.captcha_digits))
        claim_delegate, claim_votes = "", 0
        if len(voters) > 1 and req.caller_id:  # a household: tentative actions from before it was on the roll
            delegate, votes = await self.tentative.pending(req.caller_id)
            target = await self.voters.get(delegate) if delegate else None
            claim_delegate, claim_votes = (target.public_name if target else ""), len(votes)
        return CallerIdentified(tuple(person(v) for v in voters), office, phone, trusted, refusal, captcha,
                                await self.hints.for_county(county), claim_delegate, claim_votes)

    async def _ClaimTentative(self, req: ClaimTentative, ctx: Any = None) -> Claimed | Recorded:  # noqa: N802
        from voter_registry.tentative import apply_pending

        if refusal := await self._refuse_action(ctx):
            return Recorded(False, reason=refusal)
        voter = await self.voters.get(req.voter)
        if voter is None or voter.status != "active" or ctx is None or voter.phone != ctx.caller_id:
            return Recorded(False, reason="your registration is not active.")
        done = await apply_pending(self.r, self.audit.append, ctx.caller_id, voter, keep_own=True,
                                   extra=_identity(ctx))
        if done is None:
            return Recorded(False, reason="someone else on this phone is claiming them right now.")
        seq, applied, dropped = done
        return Claimed(applied, dropped, seq)

    async def _after_log(self, *writes: Any) -> None:
        """Apply the store writes of an action whose audit event is already on disk, in order. The log is the
        system of record, so a write waits out a storage outage (a Valkey restart, STORAGE_RETRY_S) rather
        than leave the store behind the log; each write is idempotent, so a retried one is harmless.
        writes: zero-argument callables returning awaitables. Raises the last redis error if storage stays
        down."""
        for write in writes:
            for delay in (0.0, *STORAGE_RETRY_S):
                await asyncio.sleep(delay)
                try:
                    await write()
                    break
                except (redis.ConnectionError, redis.TimeoutError):
                    if delay == STORAGE_RETRY_S[-1]:
                        raise
                    log.warning("storage unavailable after an audit append; retrying the store write")

    async def trusted(self, caller_id: str | None, attestation: str | None, validated: bool) -> bool:
        """May this caller ID change state? SHAKEN/STIR full attestation ("A", validated), or a phone verified
        by call-back within VERIFIED_FOR_S; every caller when REQUIRE_ATTESTATION is off."""
        if not self.require_attestation:
            return True
        if attestation == "A" and validated:
            return True
        return bool(caller_id) and bool(await self.r.exists(f"ivr:verified:{caller_id}"))

    async def _StartVerification(self, req: StartVerification, ctx: Any = None) -> VerificationStarted:  # noqa: N802
        """Draw a one-time code, remember its hash for 10 minutes, and call the registered number back."""
        code = f"{secrets.randbelow(10_000):04d}"
        await self.r.set(f"ivr:verify:{req.phone}", _code_hash(req.phone, code), ex=600)
        if self.dial is not None:
            task = asyncio.create_task(self._call_back(req.phone, req.service_number))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return VerificationStarted(code)

    async def _call_back(self, phone: str, service_number: str) -> None:
        await asyncio.sleep(self.verify_dial_delay_s)  # let the first call hang up
        try:
            await self.dial(phone, service_number, self.connection_id, "verify")
        except Exception:
            log.exception("verification call-back could not be placed")

    async def _CheckVerification(self, req: CheckVerification, ctx: Any = None) -> VerificationChecked:  # noqa: N802
        want = await self.r.get(f"ivr:verify:{req.phone}")
        ok = bool(want) and hmac.compare_digest(want, _code_hash(req.phone, req.code))
        if ok:
            await self.r.delete(f"ivr:verify:{req.phone}")
            await self.r.set(f"ivr:verified:{req.phone}", 1, ex=self.verified_for_s)
        return VerificationChecked(ok)

    async def _FindVoter(self, req: FindVoter, ctx: Any = None) -> VoterMatched:  # noqa: N802
        from voter_registry.matcher import MatchResult

        if req.match is not None:
            result = MatchResult.from_dict(req.match).refine(req.text)
        else:
            caller = await self.voters.get(req.caller) if req.caller else None
            result = await self.matcher.match(req.text, caller)
        found = await self.voters.get_many([c.regn_num for c in result.candidates])
        people = tuple(person(found[c.regn_num]) for c in result.candidates if c.regn_num in found)
        return VoterMatched(result.decision, people, result.question, result.to_dict())

    async def _FindBill(self, req: FindBill, ctx: Any = None) -> BillsFound:  # noqa: N802
        bills = await self.bills.find(req.text) if req.text else await self.bills.recent(RECENT_BILLS)
        return BillsFound(tuple(bill_info(b) for b in bills[: req.limit]))

    async def _LookupDelegate(self, req: LookupDelegate, ctx: Any = None) -> DelegateIs:  # noqa: N802
        if req.voter == TENTATIVE:
            regn = (await self.tentative.pending(ctx.caller_id))[0]
        else:
            regn = await self.delegations.delegate_of(req.voter)
        v = await self.voters.get(regn) if regn else None
        return DelegateIs(person(v) if v else None)

    async def ended(self, call_id: str) -> None:
        """The call is over: free its place under the concurrent-call cap."""
        if self.guards is not None:
            await self.guards.release_call(call_id)

    async def _refuse_action(self, ctx: Any) -> str | None:
        """Server-side check of every state change: a trusted caller ID within its daily action limit."""
        if ctx is not None and not ctx.trusted:
            return "this phone is not verified."
        if self.guards is not None and ctx is not None and not await self.guards.allow_action(ctx.caller_id):
            return "this phone has reached today's limit of actions."
        return None

    async def _active_pair(self, a: str, b: str) -> tuple[Voter, Voter] | str:
        va, vb = await self.voters.get(a), await self.voters.get(b)
        if va is None or va.status != "active":
            return "your registration is not active."
        if vb is None or vb.status != "active":
            return "that voter's registration is not active."
        return va, vb

    async def _RecordDelegation(self, req: RecordDelegation, ctx: Any = None) -> Recorded:  # noqa: N802
        if refusal := await self._refuse_action(ctx):
            return Recorded(False, reason=refusal)
        if req.voter == TENTATIVE:
            delegate = await self.voters.get(req.delegate)
            if req.scope != "standing" or req.backup:
                return Recorded(False, reason="until this phone is registered you can record one standing delegate.")
            if delegate is None or delegate.status != "active":
                return Recorded(False, reason="that voter's registration is not active.")
            seq = await self.audit.append("delegate", await self.tentative.pseudonym(ctx.caller_id), delegate.ref,
                                          {"scope": "standing", "rank": 1, "tentative": True, **_identity(ctx)})
            await self._after_log(lambda: self.tentative.delegate(ctx.caller_id, delegate.regn_num))
            return Recorded(True, seq=seq)
        if req.voter == req.delegate:
            return Recorded(False, reason="you cannot delegate to yourself.")
        pair = await self._active_pair(req.voter, req.delegate)
        if isinstance(pair, str):
            return Recorded(False, reason=pair)
        voter, delegate = pair
        rank = 1
        if req.backup:  # R7: ranked backups, up to MAX_RANK delegates in all
            current = await self.delegations.delegates_of(voter.regn_num, req.scope) or []
            if delegate.regn_num in current:
                return Recorded(False, reason="that voter is already one of your delegates.")
            rank = len(current) + 1
            if rank > MAX_RANK:
                return Recorded(False, reason=f"you already have {MAX_RANK} delegates; recall one first.")
        if req.scope != "standing" and (await self._open_bill(req.scope)) is None:
            return Recorded(False, reason="voting on that bill has closed.")
        seq = await self.audit.append("delegate", voter.ref, delegate.ref,
                                      {"scope": req.scope, "rank": rank, "tentative": False, **_identity(ctx)})
        await self._after_log(
            lambda: self.delegations.delegate(voter.regn_num, delegate.regn_num, scope=req.scope, rank=rank),
            lambda: self._acted(voter.regn_num, seq))
        if req.scope != "standing" or rank > 1:
            return Recorded(True, seq=seq)
        loops = await self._loops_back(voter.regn_num)
        award, nxt = await self._award(voter)
        return Recorded(True, seq=seq, loops=loops, award_cents=award, award_next_cents=nxt)

    async def _open_bill(self, key: str) -> Any:
        bill = await self.bills.get(key)
        return bill if bill is not None and bill.closed_at is None else None

    async def _RecordNoDelegation(self, req: RecordNoDelegation, ctx: Any = None) -> Recorded:  # noqa: N802
        """R6: an explicit "no delegation on this bill" (only the voter's own direct vote counts there)."""
        if refusal := await self._refuse_action(ctx):
            return Recorded(False, reason=refusal)
        voter = await self.voters.get(req.voter)
        if voter is None or voter.status != "active":
            return Recorded(False, reason="your registration is not active.")
        if await self._open_bill(req.bill) is None:
            return Recorded(False, reason="voting on that bill has closed.")
        seq = await self.audit.append("no-delegate", voter.ref, None, {"bill": req.bill, **_identity(ctx)})
        await self._after_log(lambda: self.delegations.no_delegation(voter.regn_num, req.bill),
                              lambda: self._acted(voter.regn_num, seq))
        return Recorded(True, seq=seq)

    async def _loops_back(self, voter: str) -> bool:
        """R4: does the standing chain from `voter` come back to them (told, not refused)?"""
        seen, cur = {voter}, voter
        for _ in range(10_000):
            cur = await self.delegations.delegate_of(cur)
            if cur is None:
                return False
            if cur in seen:
                return cur == voter
            seen.add(cur)
        return False

    async def _award(self, voter: Voter) -> tuple[int, int]:
        """Activation reward (money.md): the k-th first delegation earns x - k + 1 dollars, once per voter."""
        if self.ledger is None or self.activations_to_reward <= 0:
            return 0, 0
        got = await self.ledger.award_activation(voter.regn_num, self.activations_to_reward)
        if not got:
            return 0, 0
        _, cents = got  # the ledger has appended the `award` event
        return cents, max(cents - 100, 0)

    async def _RecordRecall(self, req: RecordRecall, ctx: Any = None) -> Recorded:  # noqa: N802
        if refusal := await self._refuse_action(ctx):
            return Recorded(False, reason=refusal)
        if req.voter == TENTATIVE:
            current = (await self.tentative.pending(ctx.caller_id))[0]
            if current is None:
                return Recorded(False, reason="you have no delegate to recall.")
            delegate = await self.voters.get(current)
            seq = await self.audit.append("recall", await self.tentative.pseudonym(ctx.caller_id),
                                          delegate.ref if delegate else None,
                                          {"scope": "standing", "tentative": True, **_identity(ctx)})
            await self._after_log(lambda: self.tentative.delegate(ctx.caller_id, None))
            return Recorded(True, seq=seq)
        current = await self.delegations.delegate_of(req.voter)
        if current is None:
            return Recorded(False, reason="you have no delegate to recall.")
        voter, delegate = await self.voters.get(req.voter), await self.voters.get(current)
        subject = delegate.ref if delegate else {"regn_num": current, "name": ""}
        seq = await self.audit.append("recall", voter.ref if voter else None, subject,
                                      {"scope": "standing", **_identity(ctx)})
        await self._after_log(lambda: self.delegations.recall(req.voter), lambda: self._acted(req.voter, seq))
        return Recorded(True, seq=seq)

    async def _RecordVote(self, req: RecordVote, ctx: Any = None) -> Recorded:  # noqa: N802
        if refusal := await self._refuse_action(ctx):
            return Recorded(False, reason=refusal)
        if req.voter == TENTATIVE:
            bill = await self.bills.get(req.bill)
            if bill is None or bill.closed_at is not None:
                return Recorded(False, reason="voting on that bill has closed.")
            seq = await self.audit.append("vote", await self.tentative.pseudonym(ctx.caller_id), None,
                                          {"bill": req.bill, "choice": req.choice, "tentative": True,
                                           **_identity(ctx)})
            await self._after_log(lambda: self.tentative.vote(ctx.caller_id, req.bill, req.choice))
            return Recorded(True, seq=seq)
        voter = await self.voters.get(req.voter)
        bill = await self.bills.get(req.bill)
        if voter is None or voter.status != "active":
            return Recorded(False, reason="your registration is not active.")
        if bill is None or bill.closed_at is not None:
            return Recorded(False, reason="voting on that bill has closed.")
        seq = await self.audit.append("vote", voter.ref, None,
                                      {"bill": req.bill, "choice": req.choice, "tentative": False, **_identity(ctx)})
        await self._after_log(lambda: self.delegations.vote(req.voter, req.bill, req.choice),
                              lambda: self._acted(req.voter, seq))
        return Recorded(True, seq=seq)

    async def _tentative_audit(self, bills: list[Any], ctx: Any) -> AuditReport:
        """What an unregistered caller has recorded; none of it counts yet (reason "tentative")."""
        delegate, votes = await self.tentative.pending(ctx.caller_id)
        d = await self.voters.get(delegate) if delegate else None
        steps = tuple(AuditStep(bill_info(b), (d.public_name,) if d and b.key not in votes else (),
                                votes.get(b.key), "tentative") for b in bills)
        return AuditReport(Person(TENTATIVE, "", "you"), steps)

    async def _acted(self, voter: str, seq: int | None) -> None:
        """Remember the voter's last audit sequence number (read back by "audit me") and count them as a
        participating verified voter of this demurrage period (they called from their registered phone)."""
        from datetime import UTC, datetime

        from money.participation import record

        if seq is not None:
            await self.r.hset("ivr:last_seq", voter, seq)
        await record(self.r, voter, datetime.now(UTC), True, period_s=self.period_s)

    def may_mint(self, caller_id: str | None, attestation: str | None, validated: bool) -> bool:
        """Sovereign phones mint (money.md); with REQUIRE_ATTESTATION only on SHAKEN/STIR "A", validated."""
        if not caller_id or caller_id not in self.sovereigns:
            return False
        return not self.require_attestation or (attestation == "A" and validated)

    async def _Balance(self, req: Balance, ctx: Any = None) -> BalanceIs:  # noqa: N802
        cents = await self.ledger.balance(req.voter) if req.voter else 0
        return BalanceIs(cents, self.may_mint(req.caller_id, req.attestation, req.validated))

    async def _RecordPayment(self, req: RecordPayment, ctx: Any = None) -> Recorded:  # noqa: N802
        if refusal := await self._refuse_action(ctx):
            return Recorded(False, reason=refusal)
        from money.amounts import say_amount
        from money.errors import MoneyError

        pair = await self._active_pair(req.voter, req.payee)
        if isinstance(pair, str):
            return Recorded(False, reason=pair)
        balance = await self.ledger.balance(req.voter)
        if req.cents > balance:
            return Recorded(False, reason=f"that is more than your balance of {say_amount(balance)}.")
        try:
            new_balance = await self.ledger.pay(req.voter, req.payee, req.cents, ref=req.ref)
        except MoneyError as exc:
            return Recorded(False, reason=_money_reason(exc))
        await self._acted(req.voter, None)
        return Recorded(True, balance_cents=new_balance)

    async def _RecordMint(self, req: RecordMint, ctx: Any = None) -> Recorded:  # noqa: N802
        from money.errors import MoneyError

        if not self.may_mint(req.caller_id, req.attestation, req.validated):
            return Recorded(False, reason="only sovereign phones with full attestation can mint.")
        to = await self.voters.get(req.to)
        if to is None or to.status != "active":
            return Recorded(False, reason="that voter's registration is not active.")
        try:
            await self.ledger.mint(req.to, req.cents, by=req.by, ref=req.ref)
        except MoneyError as exc:
            return Recorded(False, reason=_money_reason(exc))
        return Recorded(True, balance_cents=await self.ledger.balance(req.by))

    async def _AuditFor(self, req: AuditFor, ctx: Any = None) -> AuditReport:  # noqa: N802
        subject = await self.voters.get(req.voter)
        if req.bills:
            bills = [b for b in [await self.bills.get(k) for k in req.bills] if b is not None]
        else:
            bills = await self.bills.recent(RECENT_BILLS)
        if req.voter == TENTATIVE:
            return await self._tentative_audit(bills, ctx)
        steps = []
        for b in bills:
            path = await self.delegations.audit_path(req.voter, b.key)
            chain_ids = [x for x in path.chain if x != req.voter]
            names = await self.voters.get_many(chain_ids)
            chain = tuple(names[x].public_name if x in names else x for x in chain_ids)
            steps.append(AuditStep(bill_info(b), chain, path.choice, path.reason))
        last = await self.r.hget("ivr:last_seq", req.voter)
        who = person(subject) if subject else Person(req.voter, "", req.voter)
        return AuditReport(who, tuple(steps), int(last) if last else None)


def _result_json(result: Recorded | Claimed) -> str:
    return json.dumps({"type": type(result).__name__, **asdict(result)})


def _result_from_json(raw: str) -> Recorded | Claimed:
    d = json.loads(raw)
    return (Claimed if d.pop("type") == "Claimed" else Recorded)(**d)


def _code_hash(phone: str, code: str) -> str:
    return hashlib.sha256(f"{phone}|{code}".encode()).hexdigest()


def _identity(ctx: Any) -> dict[str, Any]:
    """SHAKEN/STIR facts of the call behind an action, recorded in its audit event (no phone number)."""
    if ctx is None:
        return {}
    return {"shaken_stir": {"attestation": ctx.attestation, "validated": ctx.validated,
                            "callback_verified": bool(ctx.trusted and not (ctx.attestation == "A" and ctx.validated))}}


def _money_reason(exc: Exception) -> str:
    """A spoken reason for a refused money movement."""
    return {"InsufficientFunds": "that is more than your balance.", "SameAccount": "you cannot pay yourself.",
            "InvalidAmount": "that amount is not allowed."}.get(type(exc).__name__, "the payment was refused.")
