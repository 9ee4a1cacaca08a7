"""The portal's settings: where releases and the registry are, how administrators sign in, and the
limits that keep one client from exhausting the server.

Secrets (the admin token, the signing key) are ``SecretStr`` so that they never appear in a repr or a
log line. Without a configured signing key a random one is drawn per process: sessions and CSRF
cookies then end when the server restarts, which is the safe default.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from stackwright.portal.passwords import check_hash_format


class PortalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    releases: Path = Field(description="Folder with one release folder per version (v0.1.0/, v0.2.0/, ...).")
    registry_url: str | None = Field(
        default=None, description="Opt-out registry database URL (default: the registry's default).")
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token for the admin API (and accepted by the login form).")
    admin_password_hash: str | None = Field(
        default=None, description="scrypt$... or pbkdf2_sha256$... hash of the admin page password.")
    secret_key: SecretStr | None = Field(
        default=None, description="Key that signs session and CSRF cookies (random per process if unset).")
    rate_limit: int = Field(default=120, ge=0, description="Requests per minute per client IP (0: no limit).")
    rate_burst: int | None = Field(
        default=None, ge=1, description="Requests allowed at once [default: the per-minute rate].")
    max_body_bytes: int = Field(default=16 * 1024, ge=256, description="Largest request body accepted.")
    session_seconds: int = Field(default=8 * 3600, ge=60, description="How long an admin session lasts.")
    max_loaded_indexes: int = Field(default=8, ge=1, description="Release indexes kept in memory at once.")
    secure_cookies: bool | None = Field(
        default=None, description="Mark cookies Secure (default: when the request came over https).")

    @field_validator("admin_password_hash")
    @classmethod
    def _hash_format(cls, value: str | None) -> str | None:
        return None if value is None else check_hash_format(value)

    @field_validator("admin_token")
    @classmethod
    def _token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("the admin token must be at least 16 characters long")
        return value

    def signing_key(self) -> str:
        """The configured key, or a fresh random one (the app asks once, at creation)."""
        return self.secret_key.get_secret_value() if self.secret_key else secrets.token_urlsafe(32)

    @property
    def admin_enabled(self) -> bool:
        return self.admin_token is not None or self.admin_password_hash is not None
