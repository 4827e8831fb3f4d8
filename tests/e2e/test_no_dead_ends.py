"""No dead ends: every kind of message gets an answer that says what to do next, in the event
wizard and outside it; door staff sending a ticket as a file get a verdict."""

from __future__ import annotations

import asyncio
import io

import pytest
import segno

from bot.sandbox import SandboxMessage, VirtualUser
from handlers.texts import plain
from handlers.wizard.chat import question_text
from handlers.wizard.steps import Dialogue
from tests.e2e.conftest import ORGANIZER
from tests.e2e.console_steps import admin, make_staff
from tests.e2e.phone import buy, create_event, photos

# What is answered matters here, not flood control: replies come quickly enough for "quiet".
pytestmark = pytest.mark.chat_pace(10)

KINDS = ("sticker", "voice", "location", "video", "animation", "dice", "poll", "audio",
         "video_note", "venue")


def a_qr_code_png() -> bytes:
    """A QR code that is not a ticket."""
    out = io.BytesIO()
    segno.make_qr("hello").save(out, kind="png", scale=8)
    return out.getvalue()


async def answers(user: VirtualUser, send) -> list[SandboxMessage]:
    """The bot's replies to one message (waits for the first, then until it is quiet)."""
    mark = user.mark()
    await send()
    await user.wait_for_message(since=mark)
    await asyncio.sleep(0.4)  # several paced replies (10/s here) arrive well within this
    return user.inbox_since(mark)


async def test_the_wizard_answers_photos_files_and_stickers_with_its_question(live) -> None:
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    mark = olga.mark()
    await olga.send("/newevent")
    await olga.wait_for_message(contains="title", since=mark)
    png = a_qr_code_png()
    sends = {
        "photo": lambda: olga.send_photo(png),
        "document": lambda: olga.send_document(b"title: x\n", filename="event.yaml"),
        "image file": lambda: olga.send_document(png, filename="t.png", mime_type="image/png"),
        "sticker": lambda: olga.send_other("sticker"),
        "voice": lambda: olga.send_other("voice"),
        "location": lambda: olga.send_other("location"),
        "contact": lambda: olga.send_contact("+49 170 1234567"),
    }
    for kind, send in sends.items():
        replies = await answers(olga, send)
        text = "\n".join(m.text or "" for m in replies)
        assert "What is the event's title?" in text, (kind, text)
        assert "QR" not in text and "YAML" not in text and "phone" not in text, (kind, text)
        assert any("Cancel" in b for m in replies for b in m.button_texts()), kind
    # The draft still waits at the title: a typed answer moves on.
    mark = olga.mark()
    await olga.send("Harbour Nights")
    await olga.wait_for_message(contains="description", since=mark)


async def test_stickers_voice_and_locations_outside_a_conversation_get_help(live) -> None:
    ann = live.sandbox.user(user_id=920, first_name="Ann")
    for kind in KINDS:
        replies = await answers(ann, lambda k=kind: ann.send_other(k))
        assert len(replies) == 1, (kind, replies)
        assert "/events" in replies[0].text and "/help" in replies[0].text, (kind, replies)


async def test_door_staff_sending_a_ticket_screenshot_as_a_file_get_a_verdict(live) -> None:
    await create_event(live, capacity=5)
    bea = live.sandbox.user(user_id=921, first_name="Bea")
    await buy(live, bea, 1)
    sam = live.sandbox.user(user_id=922, first_name="Sam")
    await make_staff(live, admin(live), 1, sam)
    screenshot = photos(bea)[0].photo
    replies = await answers(sam, lambda: sam.send_document(
        screenshot, filename="IMG_0042.png", mime_type="image/png"))
    assert len(replies) == 1 and replies[0].text.startswith("✅✅✅ VALID"), replies
    # A file without a picture: a hint for door staff, not "only organizers can import".
    replies = await answers(sam, lambda: sam.send_document(b"%PDF-1.4", filename="t.pdf"))
    assert len(replies) == 1
    assert "Only organizers" not in replies[0].text
    assert "photo" in replies[0].text and "/checkin" in replies[0].text, replies[0].text


async def test_someone_elses_contact_outside_the_phone_check_gets_a_helpful_reply(live) -> None:
    ann = live.sandbox.user(user_id=923, first_name="Ann")
    replies = await answers(ann, lambda: ann.send_contact("+44 7700 900123", user_id=555,
                                                          first_name="Bob"))
    assert len(replies) == 1
    text = replies[0].text
    assert "your own contact" in text and "/help" in text, text


async def test_every_wizard_step_answers_a_sticker_with_its_own_question(live) -> None:
    """Walk the draft through every step of a direct sale (answers given through the same
    service the chat uses) and send a sticker at each: the reply asks that step's question,
    with its buttons; at the preview it points at the buttons and shows the preview again."""
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    wizard = Dialogue(live.runtime.services.wizard)
    await wizard.start(ORGANIZER)
    answers = ["Harbour Nights", "-", "Pier 1", "Europe/Berlin", "12.12.2031 21:00", "GA",
               "25", "EUR", "40", "4", "done", "direct"]
    for answer in [*answers, None]:
        state = await wizard.current(ORGANIZER)
        assert state is not None
        step = state.prompt.step.value
        replies = await answers_to_sticker(olga)
        text = "\n".join(m.text or "" for m in replies)
        if answer is None:
            assert step == "preview"
            assert "Please use the buttons" in text and "Harbour Nights" in text, text
            assert any("Publish" in b for m in replies for b in m.button_texts())
        else:
            assert "typed answer" in text, (step, text)
            assert plain(question_text(state)) in text, (step, text)
            assert any("Cancel" in b for m in replies for b in m.button_texts()), step
            assert (await wizard.current(ORGANIZER)).prompt.step.value == step  # unchanged
            await wizard.answer(ORGANIZER, answer)


async def answers_to_sticker(user: VirtualUser) -> list[SandboxMessage]:
    return await answers(user, lambda: user.send_other("sticker"))
