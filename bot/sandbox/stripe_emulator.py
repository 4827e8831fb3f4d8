"""A small Stripe API emulator: charges (created by the sandbox) and refunds, with
Stripe's authentication, error shapes and Idempotency-Key semantics.

Permanent refund refusal (:meth:`StripeEmulator.refuse_refunds_for`) is answered as Stripe
answers a refund on a disputed charge: HTTP 400, ``invalid_request_error`` with code
``charge_disputed``. It is stored under the idempotency key like any validation error.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_KEY_RE = re.compile(r"\[([^\]]*)\]")
_REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})


@dataclass
class LedgerEntry:
    """One money movement in the emulated Stripe account."""

    kind: str  # "charge" | "refund"
    charge_id: str
    refund_id: str | None
    amount: int
    currency: str
    idempotency_key: str | None
    at: float = field(default_factory=time.time)


@dataclass
class _Fault:
    remaining: int
    status: int | str


@dataclass
class _IdempotencyRecord:
    fingerprint: str
    status: int
    body: dict[str, Any]


class StripeError(Exception):
    """An error answer of the emulated Stripe API."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "message": message}
        if code:
            self.body["code"] = code
        if param:
            self.body["param"] = param


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}"


def _money(amount: int, currency: str) -> str:
    return f"{currency.upper()} {amount / 100:.2f}"


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Decode Stripe's bracketed form encoding (``metadata[k]=v``, ``expand[0]=x``)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        base = key.split("[", 1)[0]
        subkeys = _KEY_RE.findall(key[len(base) :])
        if not subkeys:
            out[base] = value
            continue
        node = out.setdefault(base, {})
        for sub in subkeys[:-1]:
            node = node.setdefault(sub, {})
        node[subkeys[-1]] = value
    return out


class StripeEmulator:
    """Stripe API emulator mounted under ``/v1`` of the sandbox server.

    Attributes:
        ledger: Every charge and refund, in order.
        charges: Charge objects by id.
        refunds: Refund objects by id.
        timeout_delay: Seconds a ``"timeout"`` fault delays the answer *after* executing.
        processing_delay: Seconds every POST takes while its idempotency key is in progress
            (0 by default; raise it to provoke the 409 concurrent-key error).
        requests: Count of API requests received (including rejected ones).
    """

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key
        self.ledger: list[LedgerEntry] = []
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.timeout_delay: float = 3.0
        self.processing_delay: float = 0.0
        self.requests: int = 0
        self._faults: list[_Fault] = []
        self._refused: set[str] = set()
        self._idempotency: dict[str, _IdempotencyRecord] = {}
        self._in_progress: set[str] = set()
        self._closing = asyncio.Event()

    # ------------------------------------------------------------------ public helpers
    def fail_next(self, n: int = 1, status: int | str = 500) -> None:
        """Inject faults in the next ``n`` Stripe API requests.

        Args:
            n: Number of requests affected.
            status: 500 (api_error, not executed, not stored under the idempotency key),
                429 (rate_limit, not executed, not stored) or ``"timeout"`` (executed and
                stored, but the answer is delayed by :attr:`timeout_delay` so the client
                times out; a retry with the same key gets the replay).
        """
        self._faults.append(_Fault(n, status))

    def refuse_refunds_for(self, charge_id: str) -> None:
        """Make every refund on ``charge_id`` fail permanently (code ``charge_disputed``)."""
        self._refused.add(charge_id)

    def create_charge(
        self,
        amount: int,
        currency: str,
        metadata: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Create a captured, succeeded charge (what a completed Telegram payment produces).

        Returns:
            The Stripe charge object.
        """
        charge_id = _new_id("ch")
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": int(amount),
            "amount_captured": int(amount),
            "amount_refunded": 0,
            "currency": currency.lower(),
            "captured": True,
            "paid": True,
            "refunded": False,
            "status": "succeeded",
            "livemode": False,
            "payment_intent": _new_id("pi"),
            "metadata": dict(metadata or {}),
            "created": int(time.time()),
        }
        self.charges[charge_id] = charge
        self.ledger.append(
            LedgerEntry("charge", charge_id, None, int(amount), currency.lower(), idempotency_key)
        )
        return charge

    def refunded_total(self, charge_id: str) -> int:
        """Sum of refunds on a charge (minor units)."""
        return sum(
            e.amount for e in self.ledger if e.kind == "refund" and e.charge_id == charge_id
        )

    def refund_count(self, charge_id: str) -> int:
        """Number of refunds on a charge."""
        return sum(1 for e in self.ledger if e.kind == "refund" and e.charge_id == charge_id)

    def total_charged(self) -> int:
        """Sum of all charges (minor units, all currencies)."""
        return sum(e.amount for e in self.ledger if e.kind == "charge")

    def total_refunded(self) -> int:
        """Sum of all refunds (minor units, all currencies)."""
        return sum(e.amount for e in self.ledger if e.kind == "refund")

    def close(self) -> None:
        """Release delayed answers (server shutdown)."""
        self._closing.set()

    # ------------------------------------------------------------------ HTTP layer
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for ``/v1/{path}``."""
        self.requests += 1
        request_id = "req_" + secrets.token_hex(7)
        headers: dict[str, str] = {"Request-Id": request_id, "Stripe-Version": "2025-01-01"}
        try:
            self._authenticate(request)
        except StripeError as exc:
            return web.json_response({"error": exc.body}, status=exc.status, headers=headers)
        fault = self._take_fault()
        if fault == 500:
            body = {"type": "api_error", "message": "An unknown error occurred (sandbox fault)."}
            return web.json_response({"error": body}, status=500, headers=headers)
        if fault == 429:
            body = {
                "type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Too many requests hit the API too quickly. We recommend an "
                "exponential backoff of your requests.",
            }
            return web.json_response({"error": body}, status=429, headers=headers)
        if request.method == "POST":
            pairs = [(k, v) for k, v in (await request.post()).items() if isinstance(v, str)]
        else:
            pairs = list(request.query.items())
        params = parse_form(pairs)
        path = request.match_info["path"].strip("/")
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        fingerprint = ""
        if key:
            fingerprint = hashlib.sha256(
                json.dumps([request.method, path, sorted(pairs)]).encode()
            ).hexdigest()
            record = self._idempotency.get(key)
            if record is not None:
                if record.fingerprint != fingerprint:
                    body = {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                    }
                    return web.json_response({"error": body}, status=400, headers=headers)
                headers["Idempotent-Replayed"] = "true"
                headers["Original-Request"] = record.body.get("_request_id", request_id)
                return web.json_response(
                    self._public(record.body), status=record.status, headers=headers
                )
            if key in self._in_progress:
                body = {
                    "type": "idempotency_error",
                    "message": "There is currently another in-progress request using this "
                    "Idempotent Key (that probably means you submitted twice, and the other "
                    "request is still going through): "
                    f"{key}. Please try again later.",
                }
                return web.json_response({"error": body}, status=409, headers=headers)
            self._in_progress.add(key)
        try:
            if self.processing_delay:
                await asyncio.sleep(self.processing_delay)
            result: dict[str, Any]
            try:
                status, result = 200, self._dispatch(request.method, path, params, key)
            except StripeError as exc:
                status, result = exc.status, {"error": exc.body}
            if key:
                self._idempotency[key] = _IdempotencyRecord(
                    fingerprint, status, {**result, "_request_id": request_id}
                )
        finally:
            if key:
                self._in_progress.discard(key)
        if fault == "timeout":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.timeout_delay)
        return web.json_response(self._public(result), status=status, headers=headers)

    @staticmethod
    def _public(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != "_request_id"}

    def _take_fault(self) -> int | str | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.pop(0)
        return fault.status

    def _authenticate(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        key = ""
        if auth.startswith("Bearer "):
            key = auth[len("Bearer ") :].strip()
        elif auth.startswith("Basic "):
            try:
                key = base64.b64decode(auth[len("Basic ") :]).decode().split(":", 1)[0]
            except ValueError:
                key = ""
        if key == self.secret_key:
            return
        if not key:
            message = (
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY')."
            )
        else:
            message = f"Invalid API Key provided: {key[:8]}****{key[-4:]}"
        raise StripeError(401, message)

    def _dispatch(
        self, method: str, path: str, params: dict[str, Any], key: str | None
    ) -> dict[str, Any]:
        parts = path.split("/")
        if method == "POST" and parts == ["refunds"]:
            return self._create_refund(params, key)
        if method == "GET" and parts == ["refunds"]:
            charge = params.get("charge")
            data = [r for r in self.refunds.values() if charge in (None, r["charge"])]
            data.sort(key=lambda r: r["created"], reverse=True)
            limit = int(params.get("limit", 10))
            return {
                "object": "list",
                "data": data[:limit],
                "has_more": len(data) > limit,
                "url": "/v1/refunds",
            }
        if method == "GET" and parts == ["charges"]:
            return self._list_charges(params)
        if method == "GET" and len(parts) == 2 and parts[0] in ("refunds", "charges"):
            store = self.refunds if parts[0] == "refunds" else self.charges
            obj = store.get(parts[1])
            if obj is None:
                kind = parts[0][:-1]
                raise StripeError(
                    404, f"No such {kind}: '{parts[1]}'", code="resource_missing", param="id"
                )
            return obj
        raise StripeError(
            404,
            f"Unrecognized request URL ({method}: /v1/{path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    def _list_charges(self, params: dict[str, Any]) -> dict[str, Any]:
        """``GET /v1/charges`` as Stripe answers it: newest first, ``limit`` 1-100 (default
        10), cursor pagination by ``starting_after`` or ``ending_before`` (not both), and the
        ``created`` filter as a timestamp or a ``gt``/``gte``/``lt``/``lte`` range."""
        raw_limit = params.get("limit", "10")
        try:
            limit = int(raw_limit)
        except (TypeError, ValueError):
            raise StripeError(400, f"Invalid integer: {raw_limit}", param="limit") from None
        if not 1 <= limit <= 100:
            raise StripeError(
                400, "This value must be greater than or equal to 1 and less than or equal "
                "to 100.", code="parameter_invalid_integer", param="limit")
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            raise StripeError(400, "You may only specify one of these parameters: "
                              "ending_before, starting_after.", code="parameter_unknown")
        # Newest first; charges made in the same second: the later one first.
        ordered = sorted(reversed(list(self.charges.values())), key=lambda c: c["created"],
                         reverse=True)
        created = params.get("created")
        if created is not None:
            bounds = created if isinstance(created, dict) else {"eq": created}
            for op, raw in bounds.items():
                try:
                    value = int(raw)
                except (TypeError, ValueError):
                    raise StripeError(400, f"Invalid integer: {raw}",
                                      param=f"created[{op}]") from None
                test = {"eq": lambda c, v=value: c == v, "gt": lambda c, v=value: c > v,
                        "gte": lambda c, v=value: c >= v, "lt": lambda c, v=value: c < v,
                        "lte": lambda c, v=value: c <= v}.get(op)
                if test is None:
                    raise StripeError(400, f"Received unknown parameter: created[{op}]",
                                      param=f"created[{op}]")
                ordered = [c for c in ordered if test(c["created"])]
        for cursor in (after, before):
            if cursor and cursor not in self.charges:
                raise StripeError(404, f"No such charge: '{cursor}'", code="resource_missing",
                                  param="starting_after" if cursor == after else
                                  "ending_before")
        if after:
            ids = [c["id"] for c in ordered]
            start = ids.index(after) + 1 if after in ids else len(ids)
            page = ordered[start:start + limit]
            more = len(ordered) > start + limit
        elif before:
            ids = [c["id"] for c in ordered]
            end = ids.index(before) if before in ids else 0
            page = ordered[max(0, end - limit):end]
            more = end - limit > 0
        else:
            page, more = ordered[:limit], len(ordered) > limit
        return {"object": "list", "data": page, "has_more": more, "url": "/v1/charges"}

    def _create_refund(self, params: dict[str, Any], key: str | None) -> dict[str, Any]:
        charge_id = params.get("charge")
        if not charge_id and params.get("payment_intent"):
            pi = params["payment_intent"]
            charge_id = next(
                (c["id"] for c in self.charges.values() if c["payment_intent"] == pi), None
            )
            if charge_id is None:
                raise StripeError(
                    404,
                    f"No such payment_intent: '{pi}'",
                    code="resource_missing",
                    param="payment_intent",
                )
        if not charge_id:
            raise StripeError(
                400,
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        charge = self.charges.get(charge_id)
        if charge is None:
            raise StripeError(
                404, f"No such charge: '{charge_id}'", code="resource_missing", param="charge"
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if "amount" in params:
            raw_amount = params["amount"]
            try:
                amount = int(raw_amount)
            except (TypeError, ValueError):
                raise StripeError(
                    400,
                    f"Invalid integer: {raw_amount}",
                    code="parameter_invalid_integer",
                    param="amount",
                ) from None
            if amount <= 0:
                raise StripeError(
                    400,
                    "Invalid positive integer",
                    code="parameter_invalid_integer",
                    param="amount",
                )
        else:
            amount = remaining
        reason = params.get("reason") or None
        if reason is not None and reason not in _REFUND_REASONS:
            raise StripeError(
                400,
                f"Invalid reason: must be one of {', '.join(sorted(_REFUND_REASONS))}",
                code="parameter_invalid_empty" if not reason else "parameter_unknown",
                param="reason",
            )
        if charge_id in self._refused:
            raise StripeError(
                400,
                f"Charge {charge_id} has been charged back; cannot issue a refund.",
                code="charge_disputed",
                param="charge",
            )
        if remaining <= 0:
            raise StripeError(
                400,
                f"Charge {charge_id} has already been refunded.",
                code="charge_already_refunded",
                param="charge",
            )
        if amount > remaining:
            raise StripeError(
                400,
                f"Refund amount ({_money(amount, charge['currency'])}) is greater than "
                f"unrefunded amount on charge ({_money(remaining, charge['currency'])})",
                code="amount_too_large",
                param="amount",
            )
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict):
            metadata = {}
        refund = {
            "id": _new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge_id,
            "payment_intent": charge["payment_intent"],
            "currency": charge["currency"],
            "status": "succeeded",
            "reason": reason,
            "metadata": metadata,
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self.ledger.append(
            LedgerEntry("refund", charge_id, refund["id"], amount, charge["currency"], key)
        )
        return refund
