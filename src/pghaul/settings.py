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

DEFAULT_POOL_SIZE = 5
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0
# Railway, Render, Heroku and Fly each put one proxy in front of a service, which appends the visitor's address to
# X-Forwarded-For (pghaul.http.forwarded). 0 believes no header: the address the connection came from.
DEFAULT_TRUSTED_PROXY_HOPS = 1
MAX_TRUSTED_PROXY_HOPS = 10


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    database_url: SecretStr | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "database_url"))
    new_database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NEW_DATABASE_URL", "new_database_url")
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

    @field_validator("database_url", "new_database_url", "migration_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def source_url(self) -> str | None:
        return self.database_url.get_secret_value() if self.database_url else None

    @property
    def target_url(self) -> str | None:
        return self.new_database_url.get_secret_value() if self.new_database_url else None

    @property
    def secret(self) -> str | None:
        return self.migration_secret.get_secret_value() if self.migration_secret else None
