"""Service settings from the environment (``OKRSYNC_*``), via pydantic-settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OKRSYNC_", extra="ignore")

    mappings: Path = Field(default=Path("mappings"), description="The mappings directory.")
    store_url: str = Field(default="sqlite:///okrsync.db", description="SQLAlchemy store URL.")
    schedule: str = Field(default="15m", description="Interval (15m) or cron expression.")
    log_format: Literal["json", "console"] | None = Field(
        default=None, description="Default: console on a terminal, else json."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"


__all__ = ["Settings"]
