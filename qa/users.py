"""Users of the reviewer UI: roles, what each role may do, and password hashing (scrypt
with a per-user salt; the password itself is never stored). Pure: the users live in the
store (`qa.store.add_user`, `authenticate`)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

ROLES = ("reviewer", "lead", "trainer", "agent", "admin")
ROLE_NAMES = {"reviewer": "QA reviewer", "lead": "QA lead", "trainer": "trainer",
              "agent": "agent", "admin": "admin"}

# What each role may do in the UI. An agent reads only their own calls.
PERMISSIONS: dict[str, frozenset[str]] = {
    "reviewer": frozenset({"review", "coach", "feedback", "calibrate", "dispute"}),
    "lead": frozenset({"review", "coach", "feedback", "calibrate", "dispute", "decide",
                       "assign", "reveal", "see_calibration"}),
    "trainer": frozenset({"coach", "dispute"}),
    "agent": frozenset({"dispute"}),
    "admin": frozenset({"review", "coach", "feedback", "calibrate", "dispute", "decide",
                        "assign", "reveal", "see_calibration"}),
}

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2 ** 14, 8, 1
_NAME = re.compile(r"^[\w.@-]{1,64}$")


@dataclass(frozen=True)
class User:
    """A signed-in user; `agent_id` ties an agent account to their calls."""

    name: str
    role: str
    agent_id: str | None = None
    team: str | None = None

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    @property
    def own_calls_only(self) -> bool:
        return self.role == "agent"


def check_user(name: str, role: str, agent_id: str | None) -> None:
    """Raises ValueError for a bad user name, an unknown role, or an agent account
    without the agent id whose calls it may read."""
    if not _NAME.match(name or ""):
        raise ValueError(f"user name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "agent" and not agent_id:
        raise ValueError("an agent account needs --agent-id (the agent whose calls it reads)")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salt$hash` (hex) of a password; raises ValueError under 8 characters."""
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R,
                            p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a hash from `hash_password` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        given = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n),
                               r=int(r), p=int(p), dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(given.hex(), digest)
