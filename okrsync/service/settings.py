"""Service settings from the environment (``OKRSYNC_*``), via pydantic-settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "OKRSYNC_"


class SettingsError(ValueError):
    """A setting in the environment is wrong; the message names the variable (one line)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    mappings: Path = Field(default=Path("mappings"), description="The mappings directory.")
    store_url: str = Field(default="sqlite:///okrsync.db", description="SQLAlchemy store URL.")
    schedule: str = Field(default="15m", description="Interval (15m) or cron expression.")
    log_format: Literal["json", "console"] | None = Field(
        default=None, description="Default: console on a terminal, else json."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    health_port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="run: the port of the dashboard, /metrics, /healthz and /readyz; 0 = off.",
    )
    dashboard_token: SecretStr | None = Field(
        default=None, description="serve, run: a bearer token every page except the probes needs."
    )
    dashboard_user: str | None = Field(default=None, description="serve, run: basic-auth user.")
    dashboard_password: SecretStr | None = Field(
        default=None, description="serve, run: basic-auth password (with or without a user)."
    )
    auto_upgrade: bool = Field(default=True, description="Apply store migrations at start.")
    store_wait: float = Field(
        default=60.0,
        ge=0,
        allow_inf_nan=False,
        description="run: seconds to retry an unreachable store at start.",
    )
    lock_wait: float = Field(
        default=60.0,
        ge=0,
        allow_inf_nan=False,
        description="sync, run --once: seconds to wait for the writer lock.",
    )
    stop_grace: float = Field(
        default=25.0,
        gt=0,
        allow_inf_nan=False,
        description="run: seconds a stop waits for the run in flight.",
    )


def load_settings() -> Settings:
    """The settings now in the environment; SettingsError says which variable is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        parts = []
        for error in exc.errors():
            variable = ENV_PREFIX + "_".join(str(part) for part in error["loc"]).upper()
            message = error["msg"][:1].lower() + error["msg"][1:]
            shown = "***" if "token" in variable or "password" in variable else error.get("input")
            parts.append(f"{variable}: {message}, got {shown!r}")
        raise SettingsError("; ".join(parts)) from None


__all__ = ["Settings", "SettingsError", "load_settings"]
