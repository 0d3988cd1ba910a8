"""Configuration from the environment, the way PaaS users give it: DATABASE_URL, NEW_DATABASE_URL, MIGRATION_SECRET,
ALLOW_DB_MIGRATION. The variable names are a contract with existing guides; do not rename them.

URLs and the secret are ``SecretStr`` so a settings object printed in a log or a traceback shows ``**********``.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Shorter secrets can be guessed online even with the slowdown on failures; 16 random characters cannot.
MIN_SECRET_LENGTH = 16
# Long is not enough: "aaaaaaaaaaaaaaaa" or "passwordpassword" is guessed first. Measured on 20,000 random secrets
# each: 16 characters of the URL-safe alphabet fail these limits about once in 10,000, 16 hex digits (64 bits)
# about once in 120, 48 hex digits or token_urlsafe(32) practically never.
MIN_DISTINCT_CHARACTERS = 6
MIN_UNPREDICTABLE_CHARACTERS = 10
MIN_UNPREDICTABLE_SHARE = 0.6  # of what is left without common words ("Passw0rd!Passw0rd!x" has 10 of 19)
# The repeat search is quadratic: the first 256 characters say enough, and a pasted novel costs no start-up time.
_MAX_ANALYSED = 256
_MAX_REPEAT = 64
# Words a person reaches for when asked for a secret; what is left without them must still be unpredictable.
COMMON_WORDS = (
    "password", "passwort", "passwd", "secret", "migration", "migrate", "database", "postgres", "pghaul",
    "admin", "qwerty", "azerty", "letmein", "welcome", "changeme", "default", "example", "railway", "render",
    "heroku", "test",
)
SECRET_ADVICE = (
    "set MIGRATION_SECRET to a long random value, for example the output of "
    "`python -c \"import secrets; print(secrets.token_urlsafe(32))\"` or 40 characters from a password manager, "
    "and restart (redeploy) the service"
)

DEFAULT_POOL_SIZE = 5
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0
# Railway, Render, Heroku and Fly each put one proxy in front of a service, which appends the visitor's address to
# X-Forwarded-For (pghaul.http.forwarded). 0 believes no header: the address the connection came from.
DEFAULT_TRUSTED_PROXY_HOPS = 1
MAX_TRUSTED_PROXY_HOPS = 10


def _smallest_period(text: str) -> int:
    """The length of the shortest piece that ``text`` repeats ("abcabcab" -> 3); len(text) when it repeats none."""
    for period in range(1, len(text) // 2 + 1):
        if all(text[i] == text[i - period] for i in range(period, len(text))):
            return period
    return len(text)


def _without_common_words(text: str) -> str:
    rest = text.lower()
    for word in COMMON_WORDS:
        rest = rest.replace(word, "")
    return rest


def _longest_repeat(text: str, at: int) -> int:
    """The length of the longest piece (3 characters or more) starting at ``at`` that also starts earlier."""
    for length in range(min(len(text) - at, _MAX_REPEAT), 2, -1):
        if 0 <= text.find(text[at:at + length], 0, at + length - 1) < at:
            return length
    return 0


def _unpredictable_characters(text: str) -> int:
    """Roughly how many characters of ``text`` no simple rule predicts, with the rules a guesser tries first:
    a character that carries on a run ("aaaa", "abcd", "4321": the same step of -1, 0 or +1 as the one before it)
    is predictable, and a piece seen before ("Summer24Summer24") counts once, wherever it comes again. A single
    step of one ("98" in random hex) is not a run: random text over a small alphabet takes such steps often."""
    count = at = 0
    step: int | None = None
    while at < len(text):
        repeat = _longest_repeat(text, at)
        if repeat:
            count, at, step = count + 1, at + repeat, None
            continue
        now = ord(text[at]) - ord(text[at - 1]) if at else None
        if now is None or abs(now) > 1 or now != step:
            count += 1
        step = now
        at += 1
    return count


def secret_problem(secret: str) -> str | None:
    """What makes ``secret`` guessable, said without quoting any of it; None when it is good enough."""
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is too short (fewer than {MIN_SECRET_LENGTH} characters)"
    if secret != secret.strip():
        return "starts or ends with a space (the migration page removes those, so it could never be typed)"
    distinct = len(set(secret))
    if distinct < MIN_DISTINCT_CHARACTERS:
        return f"is too weak: it uses only {distinct} different character(s)"
    if _smallest_period(secret) <= len(secret) // 2:
        return "is too weak: it is one short piece repeated"
    rest = _without_common_words(secret[:_MAX_ANALYSED])
    if _unpredictable_characters(rest) < max(MIN_UNPREDICTABLE_CHARACTERS, MIN_UNPREDICTABLE_SHARE * len(rest)):
        return "is too weak: it is mostly common words, runs such as abcd or 1234, or repeated pieces"
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    database_url: SecretStr | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "database_url"))
    new_database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NEW_DATABASE_URL", "new_database_url")
    )
    # The source as the target's server reaches it, for follow's subscription, when that differs from DATABASE_URL
    # (a private network name, another port): the target's server connects to it, not pghaul.
    follow_source_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("FOLLOW_SOURCE_URL", "follow_source_url")
    )
    migration_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MIGRATION_SECRET", "migration_secret")
    )
    allow_db_migration: bool = Field(
        default=False, validation_alias=AliasChoices("ALLOW_DB_MIGRATION", "allow_db_migration")
    )
    pool_size: int = Field(
        default=DEFAULT_POOL_SIZE, ge=1, le=100, validation_alias=AliasChoices("PGHAUL_POOL_SIZE", "pool_size")
    )
    connect_timeout: float = Field(
        default=DEFAULT_CONNECT_TIMEOUT_SECONDS,
        gt=0,
        le=300,
        validation_alias=AliasChoices("PGHAUL_CONNECT_TIMEOUT", "connect_timeout"),
    )

    # How many proxies in front of pghaul append to X-Forwarded-For (and set X-Forwarded-Proto): the client's address
    # is the entry this many places from the right, which no client can choose. Too high lets a client pick its
    # address; too low makes visitors share one (safe). The migration guide lists the value per platform.
    trusted_proxy_hops: int = Field(
        default=DEFAULT_TRUSTED_PROXY_HOPS, ge=0, le=MAX_TRUSTED_PROXY_HOPS,
        validation_alias=AliasChoices("TRUSTED_PROXY_HOPS", "trusted_proxy_hops"),
    )
    # Read only to say at start-up that it no longer does anything (the guide once recommended "*", which let every
    # client choose its own address): TRUSTED_PROXY_HOPS replaced it.
    forwarded_allow_ips: str | None = Field(
        default=None, validation_alias=AliasChoices("FORWARDED_ALLOW_IPS", "forwarded_allow_ips")
    )

    @field_validator("allow_db_migration", mode="before")
    @classmethod
    def _only_true_unlocks(cls, value: Any) -> bool:
        # The switch is a deliberate act: only the word "true" turns it on, anything else (1, yes, typos) leaves the
        # API locked instead of failing the whole app at startup.
        if isinstance(value, bool):
            return value
        return isinstance(value, str) and value.strip().lower() == "true"

    @field_validator("trusted_proxy_hops", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return DEFAULT_TRUSTED_PROXY_HOPS
        return value.strip() if isinstance(value, str) else value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("database_url", "new_database_url", "follow_source_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("migration_secret", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: Any) -> Any:
        # Only an empty value is "not set": a secret of spaces is a (weak) secret, refused as such.
        return None if value == "" else value

    @property
    def source_url(self) -> str | None:
        return self.database_url.get_secret_value() if self.database_url else None

    @property
    def target_url(self) -> str | None:
        return self.new_database_url.get_secret_value() if self.new_database_url else None

    @property
    def subscription_source_url(self) -> str | None:
        """FOLLOW_SOURCE_URL when set: follow's subscription connects there instead of DATABASE_URL."""
        return self.follow_source_url.get_secret_value() if self.follow_source_url else None

    @property
    def secret(self) -> str | None:
        return self.migration_secret.get_secret_value() if self.migration_secret else None
