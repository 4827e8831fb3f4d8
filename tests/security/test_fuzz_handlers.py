"""Bad input: generated updates of every kind through the real bot, against a populated world.

For every generated input: nothing reaches PTB's error handler, Telegram would accept every Bot
API call the bot makes, the sender always gets a reply or an answered button, and an input the
bot rejects changes nothing (every row of the protected tables is compared before and after).

``pytest tests/security -m slow`` runs the same properties with ten times more examples.
"""

from __future__ import annotations

import io
import random

import PIL.Image
import pytest
import segno
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from telegram.ext import CommandHandler

from handlers import callbacks as cb
from tests.security.conftest import (
    MALLORY,
    NASTY_DESCRIPTION,
    NASTY_LOTTERY,
    NASTY_TITLE,
    NASTY_TYPE,
    NASTY_VENUE,
    NASTY_VIP,
    World,
    diff,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

FEW = settings(max_examples=120, deadline=None, derandomize=True,
               suppress_health_check=list(HealthCheck))
MANY = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))

# Characters that break careless code: RTL overrides, zero-width joiners, BOM, emoji with
# modifiers (two UTF-16 units), combining marks, HTML and Markdown control characters.
TRICKY = ("\u202e\u202d\u200f\u200e\u200b\u200c\u200d\u2060\ufeff\u0301\u0336"
          "🎉👩🏽‍🚀🇩🇪𝔘\U0010fffd<>&\"'*_[]()~`#+-=|{}.!\\/@:;%$\n\t\r ")
texts = st.one_of(
    st.text(min_size=1, max_size=300),
    st.text(alphabet=TRICKY, min_size=1, max_size=200),
    st.sampled_from([
        "A" * 4097, "🎉" * 2100, "\u202e" + "x" * 5000, "\u200b" * 4096, "<b>" * 1500,
        "&" * 4096, "ü" * 9000, "<script>alert(1)</script>", "&amp;&lt;&#0;&#x110000;",
        "' OR 1=1; DROP TABLE events; --", "*bold* _it_ [x](tg://user?id=1) `c`", "\x00\x01",
    ]),
)
ODD_ARGS = st.one_of(
    st.sampled_from([
        "", "0", "-1", "-9223372036854775808", "9223372036854775808", "9" * 19, "9" * 400,
        "1e3", "0x1", "01", "+1", " 1 ", "1 2", "١٢", "１２", "²", "1;DROP TABLE events",
        "1 OR 1=1", "' OR ''='", "<b>1</b>", "&amp;", "<a href='x'>1</a>", "*1*", "_1_",
        "i_" + "A" * 22, "t_" + "A" * 22, "ev_1", "ev_0", "ev_99999999999999999999",
        "i_../../etc", "t_<b>", "\u202e1", "1\u200b", "🎉", "NaN", "None", "null", "%s%n",
        "{0}{name}", "K7QH-3MZP", "k7qh 3mzp", "O0O0-I1I1", "-" * 50,
    ]),
    st.text(alphabet=TRICKY + "0123456789", min_size=1, max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(min_size=1, max_size=4000),
)


def commands(world: World) -> list[str]:
    """Every command the bot registered (read from the Application, not hard-coded)."""
    found: set[str] = set()
    for group in world.bot.runtime.application.handlers.values():
        for handler in group:
            if isinstance(handler, CommandHandler):
                found |= set(handler.commands)
    assert {"start", "stats", "checkin", "invite_organizer"} <= found
    return sorted(found)


def callback_data(world: World) -> st.SearchStrategy[str]:
    """Forged callback data: every v1 action with real ids of other people's things, random
    and out-of-range numbers, malformed shapes, other versions, and noise."""
    number = st.one_of(
        st.sampled_from(world.all_ids()).map(str),
        st.integers(min_value=-3, max_value=120).map(str),
        st.sampled_from([str(cb.MAX_ID), str(cb.MAX_ID + 1), "9" * 30, "00", "01", "+1", "٣",
                         "", " 1", "1.0", "1e2"]),
    )
    shaped = st.builds(
        lambda tag, nums: ":".join(["v1", tag, *nums]),
        st.sampled_from(sorted(cb._SHAPES)),
        st.lists(number, min_size=0, max_size=3))
    exact = st.sampled_from(sorted(cb._SHAPES)).flatmap(
        lambda tag: st.lists(number, min_size=len(cb._SHAPES[tag]),
                             max_size=len(cb._SHAPES[tag]))
        .map(lambda nums: ":".join(["v1", tag, *nums])))
    return st.one_of(
        exact, exact, shaped,
        st.builds(lambda v, rest: f"{v}:{rest}", st.sampled_from(["v0", "v2", "V1", "v1 "]),
                  st.text(max_size=20)),
        st.text(max_size=100),
        st.text(alphabet=TRICKY + ":v1", max_size=64),
    )


async def _check_rejected_changes_nothing(world: World, user_id: int, send) -> None:
    before = await world.snapshot(outsider=user_id)
    outcome = await send()
    outcome.assert_clean(send)
    after = await world.snapshot(outsider=user_id)
    assert before == after, f"{send!r} changed protected rows: {diff(before, after)}"


# ------------------------------------------------------------------------------- buttons

@FEW
@given(data=st.data())
async def test_forged_callback_data_is_always_answered_and_changes_nothing_protected(
        world: World, data: st.DataObject) -> None:
    await _fuzz_callbacks(world, data)


@pytest.mark.slow
@MANY
@given(data=st.data())
async def test_forged_callback_data_many(world: World, data: st.DataObject) -> None:
    await _fuzz_callbacks(world, data)


async def _fuzz_callbacks(world: World, data: st.DataObject) -> None:
    who = data.draw(st.sampled_from(["mallory", "ann"]), label="who")
    user = world.users[who]
    forged = data.draw(callback_data(world), label="callback_data")
    detached = data.draw(st.booleans(), label="detached")

    async def send():
        return await world.tap(user, forged, detached=detached)

    send.__qualname__ = f"{who} taps {forged!r}" + (" (no message)" if detached else "")
    await _check_rejected_changes_nothing(world, user.user_id, send)


# ------------------------------------------------------------------------------ commands

@FEW
@given(data=st.data())
async def test_every_command_with_odd_arguments_from_an_outsider(
        world: World, data: st.DataObject) -> None:
    await _fuzz_commands(world, data, world.users["mallory"])


@FEW
@given(data=st.data())
async def test_every_command_with_odd_arguments_from_the_admin(
        world: World, data: st.DataObject) -> None:
    await _fuzz_commands(world, data, world.users["admin"])


@pytest.mark.slow
@MANY
@given(data=st.data())
async def test_every_command_with_odd_arguments_many(world: World, data: st.DataObject) -> None:
    who = data.draw(st.sampled_from(["mallory", "admin", "oscar", "sam", "ann"]))
    await _fuzz_commands(world, data, world.users[who])


# Commands that create something by design whatever their arguments say.
CREATES = {"newevent", "invite_organizer"}


async def _fuzz_commands(world: World, data: st.DataObject, user) -> None:
    privileged = user.user_id != MALLORY
    names = [c for c in commands(world) if not (privileged and c in CREATES)]
    command = data.draw(st.sampled_from(names), label="command")
    args = data.draw(ODD_ARGS, label="args")
    if privileged:  # a real id would be a legitimate request, not an odd one
        assume(not (args.strip().isascii() and args.strip().isdigit()
                    and int(args) in world.event_ids.values()))
    suffix = data.draw(st.sampled_from(["", "@ticketq_bot", "@other_bot"]), label="suffix")
    text = f"/{command}{suffix} {args}".rstrip() if args else f"/{command}{suffix}"

    async def send():
        return await world.probe(user, "send", text)

    send.__qualname__ = f"{user.first_name} sends {text[:200]!r}"
    await _check_rejected_changes_nothing(world, user.user_id, send)


# --------------------------------------------------------------------------------- texts

@FEW
@given(text=texts)
async def test_huge_and_unicode_texts_get_a_reply_and_change_nothing(
        world: World, text: str) -> None:
    mallory = world.users["mallory"]

    async def send():
        return await world.probe(mallory, "send", text)

    send.__qualname__ = f"text {text[:80]!r}"
    await _check_rejected_changes_nothing(world, MALLORY, send)


@FEW
@given(text=texts)
async def test_the_event_wizard_answers_every_text(world: World, text: str) -> None:
    oscar = world.users["oscar"]
    if await world.bot.runtime.services.wizard.current(oscar.user_id) is None:
        (await world.probe(oscar, "send", "/newevent")).assert_clean("/newevent")
    outcome = await world.probe(oscar, "send", text)
    outcome.assert_clean(f"wizard answer {text[:80]!r}")


# ----------------------------------------------------------------------- files and photos

def _png(seed: int, size: int = 64) -> bytes:
    rng = random.Random(seed)
    image = PIL.Image.new("RGB", (size, size))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                   for _ in range(size * size)])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _qr(text: str) -> bytes:
    out = io.BytesIO()
    segno.make_qr(text).save(out, kind="png", scale=6)
    return out.getvalue()


PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Count 0>>"
       b"endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
documents = st.one_of(
    st.tuples(st.binary(min_size=1, max_size=2000),
              st.sampled_from(["event.yaml", "event.json", "x.png", "x.yml", "noext", ""])),
    st.tuples(st.text(max_size=500).map(str.encode),
              st.sampled_from(["event.yaml", "event.json"])),
    st.sampled_from([
        (b"", "empty.yaml"), (PDF, "event.pdf"), (PDF, "event.yaml"),
        (b"\xff\xfe\x00garbage", "event.json"), (b"a: &a [*a]\n", "anchor.yaml"),
        (b"[" * 5000 + b"]" * 5000, "deep.json"), (b"- " * 3000 + b"x", "deep.yaml"),
        (b"!!python/object/apply:os.system ['echo hi']", "evil.yaml"),
        (b"title: " + b"x" * (300 * 1024), "big.yaml"), (b"x" * (257 * 1024), "big.json"),
        (b'{"title": "<b>x</b>", "ticket_types": [{"name": "&"}]}', "half.json"),
        (b"title: t\nvenue: v\nstarts_at: 1\ntimezone: Mars/Olympus\nticket_types: {}",
         "wrong.yaml"),
        (_png(1), "photo.png"),
    ]),
)


@FEW
@given(doc=documents, who=st.sampled_from(["admin", "mallory"]))
async def test_documents_that_are_not_event_files_are_explained_and_create_nothing(
        world: World, doc: tuple[bytes, str], who: str) -> None:
    user = world.users[who]
    content, name = doc

    async def send():
        return await world.probe(user, "send_document", content, filename=name or "file")

    send.__qualname__ = f"{who} sends {name!r} ({len(content)} bytes)"
    await _check_rejected_changes_nothing(world, user.user_id, send)


IMAGES = [_png(2), _png(3, 300), _qr("https://t.me/other_bot?start=t_" + "A" * 22),
          _qr("https://t.me/ticketq_bot?start=t_" + "B" * 22), _qr("<b>&</b>" * 20),
          _qr("https://t.me/ticketq_bot?start=i_" + "C" * 22), _qr("\u202e🎉")]


@FEW
@given(image=st.one_of(st.sampled_from(IMAGES), st.binary(min_size=0, max_size=3000)),
       who=st.sampled_from(["sam", "mallory", "admin"]), caption=st.one_of(st.none(), texts))
async def test_photos_without_a_ticket_get_a_clear_verdict_and_change_nothing(
        world: World, image: bytes, who: str, caption: str | None) -> None:
    user = world.users[who]
    # Stored as bytes Telegram never checked (a forged update can carry anything).
    stored = world.api.store_file(image, "document", file_name="p.jpg")
    photo = world.api.photo_sizes(stored)
    photo[0].update(width=100, height=100)
    fields = {"photo": photo, **({"caption": caption[:1024]} if caption else {})}

    async def send():
        return await world.emit(user, "message", world.message(user, **fields))

    send.__qualname__ = f"{who} sends a photo of {len(image)} bytes"
    await _check_rejected_changes_nothing(world, user.user_id, send)


# ------------------------------------------------------------------------------ contacts

@FEW
@given(owner=st.sampled_from(["ann", "admin", "sam", None]),
       phone=st.one_of(st.sampled_from(["+49 170 1234567", "", "+", "١٢٣٤", "<b>1</b>",
                                        "1" * 200, "+1 (555) 0100 & co"]),
                       st.text(max_size=40)))
async def test_contacts_of_other_people_are_refused_and_change_nothing(
        world: World, owner: str | None, phone: str) -> None:
    mallory = world.users["mallory"]
    contact = {"phone_number": phone or "0", "first_name": "<i>X</i> &"}
    if owner is not None:
        contact["user_id"] = world.users[owner].user_id

    async def send():
        return await world.emit(mallory, "message", world.message(mallory, contact=contact))

    send.__qualname__ = f"contact of {owner} {phone!r}"
    await _check_rejected_changes_nothing(world, MALLORY, send)


async def test_own_contact_with_odd_numbers_is_handled(world: World) -> None:
    zoe = world.bot.sandbox.user(user_id=777, first_name="Zoë")
    for phone in ("", "+", "١٢٣٤٥٦٧", "<b>49</b>", "1" * 300, "+49 170 1234567", "\u202e12"):
        outcome = await world.probe(zoe, "send_contact", phone or "0")
        outcome.assert_clean(phone)


# ---------------------------------------------------------------------- rendering names

async def test_names_with_html_and_markdown_characters_render_literally_everywhere(
        world: World) -> None:
    """Every screen that shows a title, venue, type or first name shows it as typed."""
    admin, ann, sam = world.users["admin"], world.users["ann"], world.users["sam"]
    main = world.event_ids["main"]

    async def see(user, action: str, *args, expect: tuple[str, ...]) -> None:
        outcome = await world.probe(user, action, *args)
        outcome.assert_clean(args)
        for literal in expect:
            assert literal in outcome.texts, (args, literal, outcome.texts)

    await see(ann, "send", "/events", expect=(NASTY_TITLE, NASTY_VENUE, NASTY_LOTTERY))
    await see(ann, "send", f"/start ev_{main}",
              expect=(NASTY_TITLE, NASTY_VENUE, NASTY_DESCRIPTION, NASTY_TYPE, NASTY_VIP))
    await see(ann, "send", f"/start ev_{world.event_ids['lottery']}", expect=(NASTY_LOTTERY,))
    await see(ann, "send", "/mytickets", expect=(NASTY_TITLE,))
    tickets = [m for m in ann.messages if m.photo is not None]
    assert tickets and all(NASTY_TITLE in m.text and NASTY_TYPE in m.text for m in tickets)
    invoices = [m for m in world.users["ben"].messages if m.invoice is not None]
    assert invoices and invoices[0].invoice["description"].find(NASTY_VIP) >= 0
    await see(admin, "send", f"/stats {main}", expect=(NASTY_TITLE, NASTY_TYPE, NASTY_VIP))
    await see(admin, "send", f"/staff {main}", expect=(NASTY_TITLE, "Sam <&>"))
    await see(admin, "send", f"/cancel_event {main}", expect=(NASTY_TITLE,))
    await see(admin, "send", f"/export {main}", expect=(NASTY_TITLE,))
    await see(admin, "send", "/myevents", expect=(NASTY_TITLE, NASTY_LOTTERY))
    await see(world.users["cara"], "send", f"/fairness {world.event_ids['lottery']}",
              expect=(NASTY_LOTTERY,))
    await see(sam, "send", "/door", expect=(NASTY_TITLE,))
    token = world.ticket_tokens[0]
    await see(sam, "send", f"/start t_{token}", expect=("VALID", NASTY_TITLE, NASTY_TYPE,
                                                       "<Ann & *Co_> </b>"))
    await see(sam, "send", f"/start t_{token}", expect=("ALREADY USED", "Sam <&>"))
    await see(sam, "send", f"/checkin {world.short_codes[0]}", expect=("ALREADY USED",))
