"""Configuration: clear one-line errors naming the variable, secrets never echoed."""

import subprocess
import sys

import pytest

from bot.config import ConfigError, load_settings
from bot.logging_setup import RedactSecrets


def test_defaults_use_an_sqlite_file_and_ten_minute_holds(monkeypatch) -> None:
    for name in ("TICKETQ_DATABASE_URL", "TICKETQ_HOLD_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    assert settings.database_url.startswith("sqlite:///") and settings.hold_minutes == 10


def test_admin_ids_are_a_comma_separated_list(monkeypatch) -> None:
    monkeypatch.setenv("TICKETQ_ADMIN_IDS", "12, 34,56")
    assert load_settings(_env_file=None).admin_ids == frozenset({12, 34, 56})


def test_a_malformed_setting_names_the_variable_but_not_the_value(monkeypatch) -> None:
    monkeypatch.setenv("TICKETQ_BOT_TOKEN", "not-a-token-SECRETVALUE")
    with pytest.raises(ConfigError) as exc:
        load_settings(_env_file=None)
    assert "TICKETQ_BOT_TOKEN" in str(exc.value)
    assert "SECRETVALUE" not in str(exc.value)


def test_missing_bot_secrets_are_listed(monkeypatch) -> None:
    for name in ("TICKETQ_BOT_TOKEN", "TICKETQ_PAYMENT_PROVIDER_TOKEN",
                 "TICKETQ_STRIPE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    with pytest.raises(ConfigError) as exc:
        settings.require_bot_secrets()
    assert str(exc.value).count("is required but not set") == 3


def test_cli_stops_with_exit_code_2_and_one_clear_line(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "TICKETQ_HOLD_MINUTES": "ten"}
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "TICKETQ_HOLD_MINUTES" in lines[0]


def test_logs_never_show_tokens_or_stripe_keys() -> None:
    redact = RedactSecrets(["my-provider-secret"])
    line = ("POST http://x/bot123456:AAHfakeTOKEN/getUpdates key sk_test_abcDEF123 "
            "provider my-provider-secret")
    out = redact.redact(line)
    assert "AAHfakeTOKEN" not in out and "abcDEF123" not in out
    assert "my-provider-secret" not in out
