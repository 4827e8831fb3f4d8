"""Settings from environment variables (``TICKETQ_*``) and an optional ``.env`` file."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ConfigError(Exception):
    """A setting is missing or malformed. The message names the variable, never its value."""


class Settings(BaseSettings):
    """Everything TicketQ reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="TICKETQ_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = Field(default=None, description="Bot token from @BotFather.")
    payment_provider_token: SecretStr | None = Field(
        default=None, description="Payment provider token from @BotFather (Stripe connected).")
    stripe_secret_key: SecretStr | None = Field(
        default=None, description="Stripe secret key, used for refunds and reconciliation.")
    database_url: str = Field(default="sqlite:///ticketq.sqlite3",
                              description="SQLAlchemy URL; SQLite file by default.")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), description="Comma-separated Telegram user ids of admins.")
    bot_api_url: str | None = Field(
        default=None, description="Bot API server base, e.g. http://127.0.0.1:8081/bot")
    bot_file_url: str | None = Field(default=None, description="Bot API file base URL.")
    stripe_api_base: str | None = Field(default=None, description="Stripe API base URL.")
    beacon_url: str | None = Field(
        default=None, description="drand-compatible randomness beacon for lotteries that "
        "mix one in, e.g. https://api.drand.sh/<chain hash>.")
    phone_hash_key: SecretStr | None = Field(
        default=None, description="Secret for hashing verified phone numbers (one entry per "
        "person). Default: derived from the bot token.")
    hold_minutes: int = Field(default=10, ge=1, le=120,
                              description="How long chosen seats are held for payment.")
    send_rate: float = Field(default=25.0, gt=0, le=1000,
                             description="Outgoing Telegram messages per second, overall.")
    send_rate_per_chat: float = Field(default=1.0, gt=0, le=100,
                                      description="Outgoing messages per second per chat.")
    send_burst_per_chat: int = Field(default=3, ge=1, le=100,
                                     description="Messages a quiet chat may receive at once.")
    reply_give_up_seconds: float = Field(
        default=60.0, gt=0, le=3600,
        description="A reply Telegram keeps refusing (flood control, network) is given up and "
        "logged after this long.")
    loser_refund_batch: int = Field(
        default=2_000, ge=1, le=100_000,
        description="After a lottery draw, losers are refunded this many per transaction by "
        "the outbox worker (the draw itself writes one work item for all of them).")
    log_level: str = Field(default="INFO", description="Python logging level.")
    payment_retry_minutes: float = Field(
        default=60, gt=0, le=24 * 60,
        description="How long a successful payment that could not be recorded (database "
        "away) is retried from the inbox before it is parked for the operator.")
    reconcile_grace_minutes: float = Field(
        default=120, gt=0,
        description="How old a Stripe charge that no payment explains must be before "
        "reconciliation refunds it; longer than TICKETQ_PAYMENT_RETRY_MINUTES.")
    reconcile_every_seconds: float = Field(
        default=600, gt=0, description="How often reconciliation lists Stripe's charges.")
    reconcile_refunds: bool = Field(
        default=True, description="Refund a Stripe charge that no payment explains after the "
        "grace period. Turn off only when the Stripe account also takes payments outside "
        "TicketQ: unexplained charges are then only reported to the admins.")
    reconcile_lookback_hours: float = Field(
        default=72, gt=0, description="How far back each reconciliation pass looks "
        "(`ticketq reconcile --since` reaches further after a long outage).")

    http_host: str = Field(
        default="127.0.0.1", description="Address the HTTP server (webhook, /healthz, "
        "/metrics, Mini App) listens on; 0.0.0.0 behind a reverse proxy on another host.")
    http_port: int | None = Field(
        default=None, ge=0, le=65535, description="Port of the HTTP server. Unset: no HTTP "
        "server in polling mode; webhook mode requires it.")
    public_url: str | None = Field(
        default=None, description="The public HTTPS base URL the reverse proxy serves this "
        "bot at, e.g. https://tickets.example.org (webhook and Mini App URLs hang off it).")

    outbox_lease_seconds: float = Field(
        default=20, ge=2, le=3600, description="Several workers on PostgreSQL: how long an "
        "outbox item claimed by a worker stays its own unless renewed (every quarter of it); "
        "a dead or restarted worker's items are sent by another worker, or by itself after "
        "the restart, after this long.")
    database_pool_size: int = Field(
        default=20, ge=1, le=200, description="PostgreSQL: connections a worker keeps open "
        "(it may open as many again at peaks). N workers need 2 x N x this (plus one each "
        "for the scheduler lock) below the server's max_connections.")
    leader_retry_seconds: float = Field(
        default=3, gt=0, le=300, description="Several workers on PostgreSQL: how often a "
        "worker that is not the scheduler leader tries to become it (the takeover time after "
        "the leader dies).")
    webhook_url: str | None = Field(
        default=None, description="Run in webhook mode: the public HTTPS URL Telegram posts "
        "updates to (`ticketq run --webhook URL` sets it too), e.g. "
        "https://tickets.example.org/telegram/webhook. Unset: long polling.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="secret_token given to setWebhook and required in the "
        "X-Telegram-Bot-Api-Secret-Token header of every webhook request: 1-256 characters "
        "of A-Z, a-z, 0-9, _ and -. Required in webhook mode.")
    webhook_max_connections: int = Field(
        default=40, ge=1, le=100, description="Most simultaneous webhook requests Telegram "
        "may open (setWebhook's max_connections), for all workers together.")
    worker_id: str | None = Field(
        default=None, max_length=128, description="Name of this process among the workers "
        "on one database (claims and leases). Default: hostname:pid.")
    inbox_lease_seconds: float = Field(
        default=30.0, ge=1, le=3600, description="How long a worker's claim on an update "
        "lasts unless renewed: a worker that died loses its updates to the others after it.")

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's "
                             "rule for secret_token)")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_https(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parsed = urlsplit(value)
        if parsed.scheme != "https" or not parsed.hostname:
            raise ValueError("must be an https:// URL (Telegram delivers only over HTTPS)")
        return value

    def require_webhook(self) -> None:
        """Webhook mode needs the secret and a port to listen on.

        Raises:
            ConfigError: naming every missing variable.
        """
        problems = []
        if self.webhook_secret is None:
            problems.append("TICKETQ_WEBHOOK_SECRET is required in webhook mode")
        if self.http_port is None:
            problems.append("TICKETQ_HTTP_PORT is required in webhook mode (the reverse "
                            "proxy forwards Telegram's requests to it)")
        if problems:
            raise ConfigError("; ".join(problems))
    miniapp_auth_max_age: float = Field(
        default=24 * 3600, gt=0, le=7 * 24 * 3600,
        description="How long (seconds) a Mini App's signed initData is accepted after "
        "Telegram issued it (auth_date); a door shift must fit in it.")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            return frozenset(int(p) for p in parts)
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        head, _, tail = raw.partition(":")
        if not head.isdigit() or not tail:
            raise ValueError("must look like 123456:ABC... (the token from @BotFather)")
        return value


    @model_validator(mode="after")
    def _grace_outlasts_retries(self) -> Settings:
        if self.reconcile_grace_minutes <= self.payment_retry_minutes:
            raise ValueError("TICKETQ_RECONCILE_GRACE_MINUTES must be longer than "
                             "TICKETQ_PAYMENT_RETRY_MINUTES (a charge whose payment is still "
                             "being retried must not be refunded)")
        if self.reconcile_lookback_hours * 60 <= self.reconcile_grace_minutes:
            raise ValueError("TICKETQ_RECONCILE_LOOKBACK_HOURS must be longer than the grace "
                             "period")
        return self

    def require_bot_secrets(self) -> None:
        """The bot itself needs its token, the payment token and the Stripe key.

        Raises:
            ConfigError: naming every missing variable.
        """
        missing = [name for name in ("bot_token", "payment_provider_token",
                                     "stripe_secret_key") if getattr(self, name) is None]
        if missing:
            raise ConfigError("; ".join(f"TICKETQ_{m.upper()} is required but not set"
                                        for m in missing))

    def secret(self, name: str) -> str:
        """The plain value of a required secret (call :meth:`require_bot_secrets` first)."""
        value = getattr(self, name)
        assert isinstance(value, SecretStr), name
        return value.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation failures into one clear line per variable.

    Raises:
        ConfigError: naming each bad variable and why, without echoing any value.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            if not err["loc"]:  # a rule between settings: its message names them
                lines.append(err["msg"].removeprefix("Value error, "))
                continue
            name = "TICKETQ_" + str(err["loc"][0]).upper()
            why = "is required but not set" if err["type"] == "missing" else (
                "is malformed: " + err["msg"].removeprefix("Value error, "))
            lines.append(f"{name} {why}")
        raise ConfigError("; ".join(lines)) from None
