"""Settings, read once at the edge from the environment and `.env` (python-dotenv via pydantic-settings).

Every setting is listed with its meaning and default in `.env.example`. Packages never read the
environment themselves: they receive a `Settings` (or the values they need) as arguments.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Frozen service settings. Field names match the `.env` keys (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=ROOT / ".env", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = False
    var_dir: Path = ROOT / "var"
    redis_url: str = ""
    audit_log: Path = Path("")
    public_only: bool = False

    telnyx_api_key: str = ""
    telnyx_public_key: str = ""
    telnyx_base_url: str = ""
    telnyx_connection_id: str = "delegate-network"
    telnyx_voice: str = "female"
    transcription_engine: str = "Google"
    emulator_port: int = 8001

    sample_voters: int = 100_000
    sample_seed: int = 1
    sample_district: str = "3"
    state: str = "IA"

    silence_timeout_ms: int = 8000
    webhook_tolerance_s: int = 300

    require_attestation: bool = True
    verified_for_s: int = 30 * 24 * 3600
    verify_dial_delay_s: float = 4.0
    captcha_digits: int = 0
    calls_per_hour: int = 20
    actions_per_day: int = 200
    max_concurrent_calls: int = 500
    allow_prefixes: str = ""
    deny_prefixes: str = ""

    sovereign_phones: str = ""
    number_of_activations_to_reward: int = 0
    demurrage_rate_ppm: int = 1000
    demurrage_period_s: int = 7 * 24 * 3600
    active_days: int = 30

    @field_validator("var_dir", mode="after")
    @classmethod
    def _absolute_var(cls, v: Path) -> Path:
        return v if v.is_absolute() else ROOT / v

    @property
    def audit_log_path(self) -> Path:
        """The public audit log (JSON Lines); default `var/audit.log`."""
        if str(self.audit_log) in ("", "."):
            return self.var_dir / "audit.log"
        return self.audit_log if self.audit_log.is_absolute() else ROOT / self.audit_log

    @staticmethod
    def _list(value: str) -> frozenset[str]:
        return frozenset(p.strip() for p in value.split(",") if p.strip())

    @property
    def allow(self) -> frozenset[str]:
        """E.164 prefixes allowed to call (empty = all), from `ALLOW_PREFIXES`."""
        return self._list(self.allow_prefixes)

    @property
    def deny(self) -> frozenset[str]:
        """E.164 prefixes refused, from `DENY_PREFIXES`."""
        return self._list(self.deny_prefixes)

    @property
    def sovereigns(self) -> frozenset[str]:
        """E.164 caller IDs allowed to mint, from the comma-separated `SOVEREIGN_PHONES`."""
        return frozenset(p.strip() for p in self.sovereign_phones.split(",") if p.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
