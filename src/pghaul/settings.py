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
# Only a proxy on this machine may say who the client is (X-Forwarded-For): uvicorn's own default, made explicit.
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1"
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0


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

    # Addresses whose X-Forwarded-For / X-Forwarded-Proto headers `pghaul serve` believes (comma-separated, or "*").
    # The wrong-secret slowdown counts failures per client address; behind a PaaS proxy that is not trusted every
    # visitor has the proxy's address and shares one count. See the migration guide for the trade-off.
    forwarded_allow_ips: str = Field(
        default=DEFAULT_FORWARDED_ALLOW_IPS, validation_alias=AliasChoices("FORWARDED_ALLOW_IPS", "forwarded_allow_ips")
    )

    @field_validator("allow_db_migration", mode="before")
    @classmethod
    def _only_true_unlocks(cls, value: Any) -> bool:
        # The switch is a deliberate act: only the word "true" turns it on, anything else (1, yes, typos) leaves the
        # API locked instead of failing the whole app at startup.
        if isinstance(value, bool):
            return value
        return isinstance(value, str) and value.strip().lower() == "true"

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return DEFAULT_FORWARDED_ALLOW_IPS
        return value.strip() if isinstance(value, str) else value

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
