"""An event file reads the same whether the operator imports it on the command line or an
organizer sends it in the chat: one decoder, one set of rules."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.cli import EXIT_INVALID, EXIT_OK, main
from bot.sandbox.harness import sqlite_url
from tests.e2e.conftest import ORGANIZER
from tests.factories import event_doc

BOM = "\ufeff".encode()
# Deeper than any parser recurses: a crash unless the decoder refuses it.
DEEPLY_NESTED = b'{"title": ' + b"[" * 5000 + b"]" * 5000 + b"}"


def cli_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
               data: bytes) -> int:
    monkeypatch.setenv("TICKETQ_DATABASE_URL", sqlite_url(tmp_path / "cli"))
    (tmp_path / "cli").mkdir(exist_ok=True)
    path = tmp_path / name
    path.write_bytes(data)
    return main(["event", "import", str(path)])


@pytest.mark.chat_pace(10)
async def test_a_bom_prefixed_and_a_deeply_nested_file_read_alike_on_the_cli_and_in_chat(
        live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    olga = live.sandbox.user(user_id=ORGANIZER, first_name="Olga")
    bom_json = BOM + json.dumps(event_doc(title="Byte Order Night",
                                          starts_at="2031-02-01T20:00")).encode()

    # A byte-order mark (what Windows editors write) is not part of the document.
    assert await asyncio.to_thread(
        cli_import, tmp_path, monkeypatch, "bom.json", bom_json) == EXIT_OK
    assert "imported event #1: Byte Order Night" in capsys.readouterr().out
    await olga.send_document(bom_json, filename="bom.json", mime_type="application/json")
    await olga.wait_for_message(contains="created")

    # Nesting deeper than the parser goes is an unreadable file, not a crash.
    assert await asyncio.to_thread(
        cli_import, tmp_path, monkeypatch, "deep.json", DEEPLY_NESTED) == EXIT_INVALID
    assert "nested too deeply" in capsys.readouterr().err
    await olga.send_document(DEEPLY_NESTED, filename="deep.json",
                             mime_type="application/json")
    await olga.wait_for_message(contains="nested too deeply")
