"""Access: every privileged command and button refuses people without the role; forged and
altered ticket tokens are never accepted; invites work once and expire; logs hold no secret.

The commands come from the running Application and the button actions from the callback codec,
so a new command or action that nobody classified here fails
``test_every_command_and_button_is_classified``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
import re
import string
from datetime import timedelta

import pytest
import sqlalchemy as sa
from telegram.ext import CommandHandler

from bot.logging_setup import configure_logging
from bot.sandbox.harness import SANDBOX_PROVIDER_TOKEN, SANDBOX_STRIPE_KEY, SANDBOX_TOKEN
from bot.storage import tables
from core.catalog.model import LotteryState
from core.door.model import Verdict
from core.kernel.errors import DomainError, ErrorCode
from handlers import callbacks as cb
from handlers.texts import plain, t
from tests.e2e.console_steps import accept, invite_payload, organizer_invite, scan, tap_for
from tests.e2e.phone import buy, enter_lottery
from tests.factories import lottery_doc
from tests.security.conftest import (
    ADMIN,
    NASTY_LOTTERY,
    NASTY_TITLE,
    OSCAR,
    SAM,
    Outcome,
    World,
    diff,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PUBLIC_COMMANDS = {"start", "events", "mytickets", "help", "cancel", "back", "skip",
                   "fairness", "audit", "return", "group", "language"}
# The least role each privileged command needs.
COMMAND_ROLES = {
    "invite_organizer": "admin", "organizers": "admin", "import": "organizer",
    "newevent": "organizer", "editevent": "organizer", "publish": "organizer",
    "unpublish": "organizer", "stats": "organizer", "myevents": "organizer",
    "events_admin": "organizer", "export": "organizer", "cancel_event": "organizer",
    "staff_invite": "organizer", "staff": "organizer",
    "refund_ticket": "organizer", "refund_order": "organizer",
    "checkin": "staff", "door": "staff",
}
# Public, each checked against who taps it: a hold's buyer (rel), a ticket's holder (tk, tg:
# give it to a friend), a claim link's creator (tw) or the code only its opener saw (ta); an
# order's buyer (ra, rc: return it), a group's invited companion (gj); anyone may join a
# sold-out type's waiting list (wl, wj), list what they may return (rl) or pick their
# language (lg).
PUBLIC_TAGS = {"ls", "ev", "tt", "q", "rel", "le", "lq", "tk", "my", "mp", "noop",
               "tg", "ta", "tw", "wl", "wj", "rl", "ra", "rc", "gj", "lg"}
TAG_ROLES = {
    "cs": "organizer", "cx": "organizer", "ci": "organizer", "cl": "organizer",
    "cc": "organizer", "cy": "organizer", "cn": "organizer", "rs": "organizer",
    "ce": "organizer", "sp": "organizer", "me": "organizer", "op": "admin",
    "ro": "admin", "wi": "invite creator", "wz": "wizard owner", "wn": "wizard owner",
    "wt": "wizard owner",
}
# Pages of the caller's own lists: refused by role alone (an organizer may page his own).
ROLE_ONLY_TAGS = {"me": "organizer", "op": "admin"}
# Who lacks each role. Oscar organizes only his own event, which makes him its door staff too
# (organizers check tickets at their events); Sam is door staff for the main event only.
OUTSIDERS = {
    "admin": ("mallory", "ann", "sam", "oscar"),
    "organizer": ("mallory", "ann", "sam"),
    "staff": ("mallory", "ann"),
}
REFUSALS = {plain(text) for text in (
    t("error.not_allowed"), t("door.not_staff"), t("import.not_admin"),
    t("error.event_not_found"), t("error.invite_not_found"), t("wizard.none"),
    t("wizard.nothing_to_cancel"))}


def registered_commands(world: World) -> set[str]:
    found: set[str] = set()
    for group in world.bot.runtime.application.handlers.values():
        for handler in group:
            if isinstance(handler, CommandHandler):
                found |= set(handler.commands)
    return found


def assert_refused(outcome: Outcome, what: str, world: World, *, secrets: tuple[str, ...] = ()
                   ) -> None:
    """A refusal (only refusal text), nothing sent that reveals anything."""
    outcome.assert_clean(what)
    shown = [m.text or "" for m in outcome.messages]
    if outcome.answer is not None and outcome.answer.text:
        shown.append(outcome.answer.text)
    if not shown and outcome.answer is not None and outcome.bot_errors == []:
        # The button's own message already said so (an edit to the same text is a no-op).
        shown = [outcome.tapped_text or ""]
    assert shown, f"{what}: refused silently (no text at all)"
    for text in shown:
        assert text.strip() in REFUSALS, f"{what}: not a refusal: {text!r}"
    assert not any(m.photo or m.document or m.invoice for m in outcome.messages), what
    everything = "\n".join(shown)
    for secret in (NASTY_TITLE, NASTY_LOTTERY, "Oscar's Gig", "start=i_", *world.short_codes,
                   *secrets):
        assert secret not in everything, f"{what}: revealed {secret!r}"


async def test_every_button_action_has_an_access_rule() -> None:
    """Every callback action of the codec is public or has a role here."""
    unknown = set(cb._BUILD) - PUBLIC_TAGS - set(TAG_ROLES)
    assert not unknown, f"callback actions without an access rule in this test: {unknown}"
    assert set(cb._BUILD) == set(cb._SHAPES)


async def test_every_command_and_button_is_classified(world: World) -> None:
    commands = registered_commands(world)
    unknown = commands - PUBLIC_COMMANDS - set(COMMAND_ROLES)
    assert not unknown, f"commands without an access rule in this test: {unknown}"
    assert set(COMMAND_ROLES) <= commands, set(COMMAND_ROLES) - commands


async def test_privileged_commands_refuse_everyone_without_the_role(world: World) -> None:
    main = world.event_ids["main"]
    for command, role in sorted(COMMAND_ROLES.items()):
        arg = world.short_codes[1] if command == "checkin" else str(main)
        for who in OUTSIDERS[role]:
            user = world.users[who]
            before = await world.snapshot(outsider=user.user_id)
            for text in (f"/{command} {arg}", f"/{command}"):
                outcome = await world.probe(user, "send", text)
                assert_refused(outcome, f"{who}: {text}", world)
            after = await world.snapshot(outsider=user.user_id)
            assert before == after, (command, who, diff(before, after))


async def test_an_organizer_cannot_tell_another_organizers_event_from_a_missing_one(
        world: World) -> None:
    oscar = world.users["oscar"]
    before = await world.snapshot(outsider=OSCAR)
    for command in ("stats", "export", "cancel_event", "staff_invite", "staff", "editevent",
                    "publish", "unpublish"):
        theirs = await world.probe(oscar, "send", f"/{command} {world.event_ids['main']}")
        missing = await world.probe(oscar, "send", f"/{command} 987654")
        assert_refused(theirs, f"oscar: /{command} <admin's event>", world)
        assert theirs.texts == missing.texts, (command, theirs.texts, missing.texts)
    assert before == await world.snapshot(outsider=OSCAR)


async def test_door_staff_of_another_event_get_wrong_event_and_check_nobody_in(
        world: World) -> None:
    oscar = world.users["oscar"]
    before = await world.snapshot(outsider=OSCAR)
    for text in (f"/checkin {world.short_codes[1]}", f"/start t_{world.ticket_tokens[1]}"):
        outcome = await world.probe(oscar, "send", text)
        outcome.assert_clean(text)
        assert "WRONG EVENT" in outcome.texts and "VALID" not in outcome.texts, outcome.texts
    assert before == await world.snapshot(outsider=OSCAR)


async def test_privileged_buttons_refuse_everyone_without_the_role(world: World) -> None:
    main, oscars = world.event_ids["main"], world.event_ids["oscar"]
    for tag in sorted(TAG_ROLES):
        shape = cb._SHAPES[tag]
        outsiders = (OUTSIDERS[ROLE_ONLY_TAGS[tag]] if tag in ROLE_ONLY_TAGS
                     else ("mallory", "ann", "sam", "oscar"))
        for who in outsiders:
            user = world.users[who]
            candidates: list[list[int]] = []
            if tag in ("wz", "wn"):
                candidates = [[0, 0], [3, 1]] if len(shape) == 2 else [[a] for a in range(5)]
            elif tag == "wt":
                candidates = [[]]
            elif tag == "ro":
                candidates = [[OSCAR], [SAM], [ADMIN]]
            elif tag == "wi":
                candidates = [[i] for i in world.invite_ids]
            elif tag == "rs":
                candidates = [[main, SAM]] + ([[oscars, OSCAR]] if who != "oscar" else [])
            elif tag in ROLE_ONLY_TAGS:
                candidates = [[0], [1]]
            elif tag in ("ce", "sp"):
                candidates = [[main, 0], [main, 1]] + ([[oscars, 0]] if who != "oscar" else [])
            else:
                candidates = [[main]] + ([[oscars]] if who != "oscar" else [])
            for ids in candidates:
                data = ":".join(["v1", tag, *map(str, ids)])
                before = await world.snapshot(outsider=user.user_id)
                outcome = await world.tap(user, data)
                assert_refused(outcome, f"{who} taps {data}", world)
                after = await world.snapshot(outsider=user.user_id)
                assert before == after, (data, who, diff(before, after))


async def test_other_peoples_orders_and_tickets_cannot_be_touched(world: World) -> None:
    mallory = world.users["mallory"]
    before = await world.snapshot()
    for data in ([f"v1:rel:{i}" for i in world.order_ids]
                 + [f"v1:tk:{i}" for i in world.ticket_ids]
                 + [f"v1:tg:{i}" for i in world.ticket_ids]
                 + [f"v1:ra:{i}" for i in world.order_ids]
                 + [f"v1:rc:{i}" for i in world.order_ids]
                 + ["v1:tw:1", "v1:ta:1:1", "v1:ta:1:4611686018427387904"]):
        outcome = await world.tap(mallory, data)
        outcome.assert_clean(data)
        assert outcome.answer is not None and outcome.answer.show_alert, (data, outcome)
        assert outcome.answer.text in {plain(t("error.order_not_found")),
                                       plain(t("error.ticket_not_found")),
                                       plain(t("error.claim_not_found"))}, outcome.answer
        assert not any(m.photo for m in outcome.messages), data
    assert before == await world.snapshot()


# --------------------------------------------------------------------------- ticket tokens

URLSAFE = string.ascii_letters + string.digits + "-_"
# Homoglyphs (Cyrillic, Greek, fullwidth, Latin-1), invisible and URL-special characters.
LOOKALIKES = ("ОоАаЕеІіΟοΑ０１ｌＩ\u200b\u00a0\u202e +/=.~%"
              + "".join(map(chr, range(0xC0, 0x180))) + "".join(map(chr, range(0xFF10, 0xFF5B))))


def altered_tokens(tokens: list[str], count: int, rng: random.Random) -> set[str]:
    """``count`` distinct strings one character away from a real token: first every
    substitution within the token alphabet (the ones that reach the database), then random
    look-alike substitutions, deletions and insertions."""
    out = {token[:pos] + new + token[pos + 1:]
           for token in tokens for pos in range(len(token)) for new in URLSAFE}
    out -= set(tokens)
    out = set(sorted(out)[:count])
    while len(out) < count:
        token = rng.choice(tokens)
        pos = rng.randrange(len(token))
        kind = rng.random()
        if kind < 0.6:
            candidate = token[:pos] + rng.choice(LOOKALIKES) + token[pos + 1:]
        elif kind < 0.8:
            candidate = token[:pos] + token[pos + 1:]
        else:
            candidate = token[:pos] + rng.choice(URLSAFE + LOOKALIKES) + token[pos:]
        if candidate not in tokens:
            out.add(candidate)
    return out


async def test_random_and_altered_ticket_tokens_are_never_accepted(world: World) -> None:
    """10,000 random and 10,000 one-character-altered tokens: no ticket link opens, and door
    staff scanning a sample of them get NOT A TICKET (``-m slow``: scan them all)."""
    await _try_tokens(world, tries=10_000, scans=3_000)


@pytest.mark.slow
async def test_random_and_altered_ticket_tokens_many(world: World) -> None:
    await _try_tokens(world, tries=10_000, scans=20_000)


async def _try_tokens(world: World, *, tries: int, scans: int) -> None:
    services = world.bot.runtime.services
    rng = random.Random(20240611)
    real = world.ticket_tokens
    forged = sorted({"".join(rng.choice(URLSAFE) for _ in range(22)) for _ in range(tries)})
    altered = sorted(altered_tokens(real, tries, rng))
    assert len(forged) == tries and len(altered) == tries
    ann, mallory = world.users["ann"].user_id, world.users["mallory"].user_id
    accepted: list[str] = []

    async def try_open(token: str, user_id: int) -> None:
        try:
            await services.tickets.open_link(user_id=user_id, payload=f"t_{token}")
        except DomainError as err:
            assert err.code is ErrorCode.TICKET_NOT_FOUND, err
        else:  # even "this is a ticket, not yours" would be a hit
            accepted.append(f"open t_{token} as {user_id}")

    async def try_scan(n: int, token: str) -> None:
        result = await services.checkin.scan_link(staff_id=SAM, payload=f"t_{token}",
                                                  nonce=f"forged:{n}")
        if result.verdict is not Verdict.NOT_A_TICKET:
            accepted.append(f"scan t_{token}: {result.verdict}")

    # Ann owns the real tickets: a near miss of her own token must not open for her either.
    work = [try_open(token, mallory) for token in forged]
    work += [try_open(token, ann) for token in altered]
    sample = rng.sample(altered, min(scans, tries) * 2 // 3) + forged[:scans // 3]
    work += [try_scan(n, token) for n, token in enumerate(sample)]
    for start in range(0, len(work), 64):  # 64 at a time, as concurrent updates would be
        await asyncio.gather(*work[start:start + 64])
    assert not accepted, accepted[:10]
    # The real ones still work (the test is not vacuous).
    link = await services.tickets.open_link(user_id=ann, payload=f"t_{real[0]}")
    assert link.is_owner


# ---------------------------------------------------------------------------------- logs

SECRET_SHAPES = re.compile(r"\d{5,}:[A-Za-z0-9_-]{10,}|/bot\d+:|sk_(test|live)_[A-Za-z0-9]")


async def test_logs_written_during_a_whole_season_hold_no_token_key_or_secret(
        world: World) -> None:
    """Purchase, cancellation with refund, lottery draw with refunds, invites and check-ins,
    logged at DEBUG through the production logging set-up (``configure_logging``)."""
    bot = world.bot
    buffer = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    http = ("httpx", "httpcore", "aiohttp.access", "stripe")
    noisy = {name: logging.getLogger(name).level
             for name in (*http, "apscheduler", "aiosqlite", "sqlalchemy.engine")}
    configure_logging("DEBUG", secrets=[SANDBOX_TOKEN, SANDBOX_PROVIDER_TOKEN,
                                        SANDBOX_STRIPE_KEY])
    ours = root.handlers[0]
    ours.setStream(buffer)  # type: ignore[attr-defined]
    for name in http:  # stricter than production: even the HTTP clients' debug lines
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.handlers[:] = [ours, *saved_handlers]
    try:
        await _a_whole_season(world)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)
    world.errors.take()
    log_text = buffer.getvalue()
    assert "getUpdates" in log_text and len(log_text) > 10_000, "nothing was captured"
    async with bot.runtime.db.engine.connect() as conn:
        tokens = [r[0] for r in (await conn.execute(sa.select(tables.tickets.c.token))).all()]
        invites = [r[0] for r in (await conn.execute(sa.select(tables.invites.c.token))).all()]
        phones = [r[0] for r in (await conn.execute(
            sa.select(tables.verified_phones.c.phone_hash))).all()]
        seeds = [r[0] for r in (await conn.execute(sa.select(tables.events.c.lottery_seed).where(
            tables.events.c.drawn_at.is_(None)))).all() if r[0]]
    secrets = {"bot token": [SANDBOX_TOKEN, SANDBOX_TOKEN.split(":", 1)[1]],
               "provider token": [SANDBOX_PROVIDER_TOKEN], "stripe key": [SANDBOX_STRIPE_KEY],
               "ticket token": tokens, "invite token": invites, "phone hash": phones,
               "undrawn lottery seed": seeds}
    assert len(tokens) >= 5 and len(invites) >= 4 and seeds
    leaks = {kind: [v for v in values if v and v in log_text]
             for kind, values in secrets.items()}
    leaks = {kind: found for kind, found in leaks.items() if found}
    shapes = sorted({m.group(0) for m in SECRET_SHAPES.finditer(log_text)})
    lines = [line for line in log_text.splitlines()
             if any(v in line for found in leaks.values() for v in found)][:3]
    assert not leaks and not shapes, f"secrets in the logs: {leaks} {shapes}\n{lines}"


async def _a_whole_season(world: World) -> None:
    bot, sandbox, runtime = world.bot, world.bot.sandbox, world.bot.runtime
    oscar, sam = world.users["oscar"], world.users["sam"]
    # A purchase on Oscar's event, then Oscar cancels it: the buyer is refunded via Stripe.
    pia = sandbox.user(user_id=401, first_name="Pia")
    await buy(bot, pia, 1, title="Oscar's Gig")
    ask = await world.probe(oscar, "send", f"/cancel_event {world.event_ids['oscar']}")
    ask.assert_clean("cancel_event")
    await tap_for(oscar, ask.messages[-1], "Yes", "cancelled")
    await bot.settle()
    await pia.wait_for_message(contains="refund", timeout=10, since=0)
    # Door staff: link, typed code, and a fresh organizer and staff invite accepted.
    await scan(sam, f"t_{world.ticket_tokens[1]}")
    await world.probe(sam, "send", f"/checkin {world.short_codes[0]}")
    await accept(sandbox.user(user_id=402, first_name="Rae"),
                 invite_payload(await organizer_invite(bot)))
    # A lottery imported now keeps its seed secret until its own draw, weeks away.
    await runtime.services.admin.import_event(
        lottery_doc(world.clock.now(), title="Later Lotto", closes_in=30 * 86_400,
                    draw_in=31 * 86_400), actor_id=ADMIN)
    # The lottery: one more entrant, then the draw (everything past its close).
    quinn = sandbox.user(user_id=403, first_name="Quinn")
    assert (await enter_lottery(quinn, 1, title=NASTY_LOTTERY[:10])).ok
    await quinn.wait_for_message(contains="You are in the draw")
    world.clock.advance(timedelta(hours=26))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        async with runtime.db.read() as uow:
            event = await uow.events.get(world.event_ids["lottery"])
        if event is not None and event.lottery_state is LotteryState.DRAWN:
            break
        assert loop.time() < deadline, f"no draw: {event.lottery_state if event else None}"
        await asyncio.sleep(0.1)
    await bot.settle()


# ------------------------------------------------------------------------------- invites

async def test_invites_are_refused_when_used_twice_withdrawn_or_expired(world: World) -> None:
    """Last in this module: it moves the clock two days ahead."""
    bot, sandbox = world.bot, world.bot.sandbox
    uma, vic, wes = (sandbox.user(user_id=i, first_name=n)
                     for i, n in ((501, "Uma"), (502, "Vic"), (503, "Wes")))
    roles_of = world.bot.runtime.services.access

    # Used twice: the second person is refused and gets nothing.
    payload = invite_payload(await organizer_invite(bot))
    assert "You are now an organizer" in ((await accept(uma, payload)).text or "")
    second = await world.probe(vic, "send", f"/start {payload}")
    second.assert_clean("second use")
    assert second.texts.strip() == plain(t("error.invite_used")), second.texts
    assert not await roles_of.is_organizer(vic.user_id)

    # A staff invite, used twice.
    card = await world.probe(world.users["admin"], "send",
                             f"/staff_invite {world.event_ids['main']}")
    staff_payload = invite_payload(card.messages[-1])
    assert "door staff" in ((await accept(uma, staff_payload)).text or "")
    again = await world.probe(vic, "send", f"/start {staff_payload}")
    assert again.texts.strip() == plain(t("error.invite_used")), again.texts
    assert not await roles_of.staff_event_ids(vic.user_id)

    # Withdrawn: the creator taps "Withdraw"; the link is dead.
    invite = await organizer_invite(bot)
    withdrawn = invite_payload(invite)
    await tap_for(world.users["admin"], invite, "Withdraw")
    dead = await world.probe(wes, "send", f"/start {withdrawn}")
    assert dead.texts.strip() == plain(t("error.invite_revoked")), dead.texts

    # Expired: 48 hours and a minute later nobody can use it.
    late = invite_payload(await organizer_invite(bot))
    late_staff = invite_payload((await world.probe(
        world.users["admin"], "send", f"/staff_invite {world.event_ids['main']}")).messages[-1])
    world.clock.advance(timedelta(hours=48, minutes=1))
    for p in (late, late_staff):
        expired = await world.probe(wes, "send", f"/start {p}")
        expired.assert_clean(p)
        assert expired.texts.strip() == plain(t("error.invite_expired")), expired.texts
    # Altered by one character: not valid either.
    altered = late[:-1] + ("A" if late[-1] != "A" else "B")
    forged = await world.probe(wes, "send", f"/start {altered}")
    assert forged.texts.strip() == plain(t("error.invite_not_found")), forged.texts
    assert not await roles_of.is_organizer(wes.user_id)
    assert not await roles_of.staff_event_ids(wes.user_id)
