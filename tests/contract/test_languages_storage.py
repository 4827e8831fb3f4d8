"""The language each user reads, as every storage keeps it (fake, SQLite, PostgreSQL), and
the service over it: first contact stores Telegram's language once, /language overrides."""

from __future__ import annotations

from core.kernel.clock import OffsetClock
from core.language.service import LanguageService

LANGS = ("en", "de", "ru", "es", "ja")


async def test_language_first_contact_is_kept_and_a_choice_overrides_it(db) -> None:
    now = OffsetClock().now()
    async with db.write() as uow:
        assert await uow.users.language(1) is None
        assert await uow.users.remember_language(user_id=1, first_name="Ann", language="de",
                                                 language_code="de-AT", now=now) == "de"
        # A later first contact (another process, a retry) does not change it...
        assert await uow.users.remember_language(user_id=1, first_name="Ann", language="ja",
                                                 language_code="ja", now=now) == "de"
        # ...a choice does.
        await uow.users.choose_language(user_id=1, first_name="Ann", language="ru", now=now)
        await uow.users.choose_language(user_id=2, first_name="Ben", language="es", now=now)
    async with db.read() as uow:
        assert await uow.users.language(1) == "ru"
        assert await uow.users.language(2) == "es"
        assert await uow.users.first_name(2) == "Ben"


async def test_language_service_stores_first_contacts_and_answers_recipients(db) -> None:
    clock = OffsetClock()
    service = LanguageService(db, clock, LANGS, "en")
    assert await service.for_reader(5, "Eva", "de-DE") == "de"
    assert await service.for_reader(6, "Ivo", "pt-br") == "en"
    await service.flush()
    fresh = LanguageService(db, clock, LANGS, "en")  # after a restart
    assert await fresh.of(5) == "de" and await fresh.of(6) == "en"
    assert await fresh.for_reader(5, "Eva", "en") == "de"  # stored, not today's Telegram
    assert await fresh.choose(5, "Eva", "ja") == "ja"
    assert await LanguageService(db, clock, LANGS, "en").of(5) == "ja"
    assert await fresh.of(404) == "en"  # someone never seen
