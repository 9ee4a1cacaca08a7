"""Administrator password hashes: scrypt (default) or PBKDF2-HMAC-SHA256, from the standard library.

The portal stores no password, only a hash given in its settings. Two formats are accepted, each one
line of ``$``-separated fields with base64 (standard alphabet, no padding) salt and digest:

- ``scrypt$N$r$p$SALT$DIGEST`` (``hashlib.scrypt``; the default written is N=2**15, r=8, p=1);
- ``pbkdf2_sha256$ITERATIONS$SALT$DIGEST`` (``hashlib.pbkdf2_hmac("sha256", ...)``).

``stackwright portal hash-password`` prints a hash to put in the settings. Checking compares digests
in constant time, and costs the same work whether the password is right or wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from stackwright.errors import StackwrightError

SCRYPT = "scrypt"
PBKDF2 = "pbkdf2_sha256"
METHODS = (SCRYPT, PBKDF2)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
PBKDF2_ITERATIONS = 600_000
DIGEST_BYTES = 32
SALT_BYTES = 16
# Bounds on what a configured hash may ask for, so that a typo cannot make each login take minutes
# or gigabytes (scrypt needs 128 * N * r bytes).
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
_MAX_PBKDF2_ITERATIONS = 10_000_000


class PasswordHashError(StackwrightError, ValueError):
    """A configured password hash that is not in a supported format (the message never quotes it)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise PasswordHashError("the password hash holds invalid base64") from None


def hash_password(password: str, method: str = SCRYPT) -> str:
    """A new hash of ``password`` with a random salt, in the format described above."""
    if method not in METHODS:
        raise PasswordHashError(f"unknown password hash method; use one of {', '.join(METHODS)}")
    if not password:
        raise PasswordHashError("the password must not be empty")
    salt = secrets.token_bytes(SALT_BYTES)
    if method == SCRYPT:
        digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        return f"{SCRYPT}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ITERATIONS, DIGEST_BYTES)
    return f"{PBKDF2}${PBKDF2_ITERATIONS}${_b64(salt)}${_b64(digest)}"


def check_hash_format(encoded: str) -> str:
    """``encoded`` when it is a well-formed, reasonably priced hash; a PasswordHashError otherwise."""
    _parse(encoded)
    return encoded


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the hash ``encoded`` (constant-time digest comparison)."""
    method, params, salt, expected = _parse(encoded)
    data = password.encode("utf-8", "surrogatepass")
    if method == SCRYPT:
        n, r, p = params
        digest = _scrypt_bytes(data, salt, n, r, p, len(expected))
    else:
        digest = hashlib.pbkdf2_hmac("sha256", data, salt, params[0], len(expected))
    return hmac.compare_digest(digest, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return _scrypt_bytes(password.encode("utf-8", "surrogatepass"), salt, n, r, p, DIGEST_BYTES)


def _scrypt_bytes(data: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, maxmem=_MAX_SCRYPT_MEMORY + 1024 * 1024,
                          dklen=length)


def _parse(encoded: str) -> tuple[str, tuple[int, ...], bytes, bytes]:
    if not isinstance(encoded, str):
        raise PasswordHashError("the password hash must be text")
    parts = encoded.strip().split("$")
    try:
        if parts[0] == SCRYPT and len(parts) == 6:
            n, r, p = (int(x) for x in parts[1:4])
            power_of_two = n >= 2 and not n & (n - 1)
            if not power_of_two or not 1 <= r <= 64 or not 1 <= p <= 16 or 128 * n * r > _MAX_SCRYPT_MEMORY:
                raise PasswordHashError("scrypt parameters out of range (N a power of 2, 128*N*r <= 256 MiB)")
            params: tuple[int, ...] = (n, r, p)
            salt, digest = parts[4], parts[5]
        elif parts[0] == PBKDF2 and len(parts) == 4:
            iterations = int(parts[1])
            if not 1_000 <= iterations <= _MAX_PBKDF2_ITERATIONS:
                raise PasswordHashError("pbkdf2 iterations out of range (1,000 to 10,000,000)")
            params = (iterations,)
            salt, digest = parts[2], parts[3]
        else:
            raise PasswordHashError(
                "unsupported password hash: expected scrypt$N$r$p$SALT$DIGEST or "
                "pbkdf2_sha256$ITERATIONS$SALT$DIGEST (stackwright portal hash-password writes one)"
            )
    except ValueError as exc:
        if isinstance(exc, PasswordHashError):
            raise
        raise PasswordHashError("the password hash has a non-numeric parameter") from None
    salt_bytes, digest_bytes = _unb64(salt), _unb64(digest)
    if len(salt_bytes) < 8 or len(digest_bytes) < 16:
        raise PasswordHashError("the password hash's salt or digest is too short")
    return parts[0], params, salt_bytes, digest_bytes
