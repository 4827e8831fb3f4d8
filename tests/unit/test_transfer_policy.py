"""The organizer's transfer policy in the event file, and the rule that reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.catalog.model import TransferPolicy
from core.catalog.spec import parse_event_spec
from core.kernel.errors import DomainError, ErrorCode
from core.tickets.model import Ticket, TicketStatus
from core.transfers.model import (
    claim_payload,
    token_from_claim_payload,
    transfer_refusal,
)
from tests.factories import event_doc, lottery_doc

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def _issues(doc) -> list[tuple[str, str]]:
    with pytest.raises(DomainError) as err:
        parse_event_spec(doc, now=NOW)
    return [(i.path, i.code) for i in err.value.params["issues"]]


def test_a_direct_sale_allows_one_transfer_until_the_start_unless_told_otherwise() -> None:
    assert parse_event_spec(event_doc(), now=NOW).transfers == TransferPolicy(True, None, 1)
    spec = parse_event_spec(event_doc(transfers={"until": "2030-12-12T18:00",
                                                 "max_per_ticket": 2}), now=NOW)
    assert spec.transfers.until == datetime(2030, 12, 12, 17, 0, tzinfo=UTC)  # Berlin time
    assert spec.transfers.max_per_ticket == 2


def test_lottery_tickets_move_only_if_the_organizer_allows_and_never_when_phone_bound() -> None:
    assert not parse_event_spec(lottery_doc(NOW), now=NOW).transfers.allowed
    allowed = lottery_doc(NOW)
    allowed["transfers"] = {"allowed": True}
    assert parse_event_spec(allowed, now=NOW).transfers.allowed
    bound = lottery_doc(NOW)
    bound["lottery"]["require_phone"] = True
    bound["transfers"] = {"allowed": True}
    assert _issues(bound) == [("transfers.allowed", "phone_bound")]


def test_a_policy_with_mistakes_is_refused_with_every_problem() -> None:
    assert _issues(event_doc(transfers={"allowed": "yes", "until": "2031-01-01T00:00",
                                        "max_per_ticket": 0})) == [
        ("transfers.allowed", "not_boolean"), ("transfers.until", "transfer_after_start"),
        ("transfers.max_per_ticket", "out_of_range")]
    assert _issues(event_doc(transfers=["on"])) == [("transfers", "not_mapping")]


def test_claim_payloads_are_deep_link_safe_and_only_ours() -> None:
    payload = claim_payload("A" * 22)
    assert len(payload) <= 64 and token_from_claim_payload(payload) == "A" * 22
    for other in ("t_" + "A" * 22, "tr_short", "tr_" + "A" * 21 + "!", "tr_" + "A" * 23):
        assert token_from_claim_payload(other) is None


def test_the_rule_checks_the_ticket_the_door_and_the_deadline() -> None:
    spec = parse_event_spec(event_doc(transfers={"max_per_ticket": 1}), now=NOW)
    from core.catalog.model import Event, EventStatus

    event = Event(1, spec.title, "", spec.venue, spec.starts_at, spec.timezone,
                  EventStatus.PUBLISHED, spec.sale_mode, transfers=spec.transfers)
    ticket = Ticket(1, 1, 1, 1, 5, "tok", "CODE2345", TicketStatus.VALID, NOW)
    assert transfer_refusal(event, ticket, admitted=False, now=NOW) is None
    assert transfer_refusal(event, ticket, admitted=True, now=NOW) \
        is ErrorCode.TICKET_ALREADY_USED
    moved = Ticket(2, 1, 1, 1, 6, "tok2", "CODE2346", TicketStatus.VALID, NOW,
                   transfer_count=1)
    assert transfer_refusal(event, moved, admitted=False, now=NOW) \
        is ErrorCode.TRANSFER_LIMIT_REACHED
    assert transfer_refusal(event, ticket, admitted=False,
                            now=spec.starts_at + timedelta(seconds=1)) \
        is ErrorCode.TRANSFERS_CLOSED
