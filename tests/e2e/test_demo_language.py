"""``ticketq demo --lang de``: the attendees' side of the demo plays in German."""

from __future__ import annotations

from bot.cli import main


def test_language_demo_plays_in_german(capsys) -> None:
    assert main(["demo", "--lang", "de"]) == 0
    out = capsys.readouterr().out
    assert "Kommende Veranstaltungen" in out and "Hafenlichter-Festival" in out
    assert "Zahlung erhalten: 160,00\xa0€ für 2 × VIP." in out
    assert "Fr., 18. Juli 2031, 19:30 MESZ" in out
    assert "Deine Erstattung über 50,00\xa0€" in out  # Lena's late payment, refunded
    assert "Event #1 Harbour Lights Festival created" in out  # the organizer: English
