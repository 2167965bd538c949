"""JWT bearer tokens as the real API issues them: HS256 with iat/exp/sub/jti. Expiry follows the
REAL wall clock (clients read `exp` and compare it with their own clock), not the simulated one.
Revoking the api key rotates the signing secret, so every token issued before fails as invalid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Dict, Optional, Tuple

_HEADER = base64.urlsafe_b64encode(b'{"typ":"JWT","alg":"HS256"}').rstrip(b"=")
_CACHE_MAX = 10_000

NOT_FOUND = "JWT Token not found"
EXPIRED = "Expired JWT Token"
INVALID = "Invalid JWT Token"


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


class Auth:
    """Issues and verifies tokens; thread-safe; verified tokens are cached by their text."""

    def __init__(self, api_key: str, seed: int) -> None:
        self.api_key = api_key
        self.revoked = False
        self._secret = hashlib.sha256(f"bsg-simulator-{seed}".encode()).digest()
        self._lock = threading.Lock()
        self._gen = 0  # bumped on revocation; cached verdicts of older generations are void
        self._valid: Dict[str, Tuple[float, int]] = {}  # token -> (exp, generation)

    def login(self, api_key: object, lifetime_s: float) -> Optional[str]:
        """A new token for the right, unrevoked key; None otherwise."""
        if self.revoked or not isinstance(api_key, str):
            return None
        if not hmac.compare_digest(api_key.encode(), self.api_key.encode()):
            return None
        return self.issue(lifetime_s)

    def issue(self, lifetime_s: float) -> str:
        iat = int(time.time())
        payload = {"iat": iat, "exp": iat + max(1, int(round(lifetime_s))),
                   "sub": "simulator-account-1", "jti": secrets.token_hex(8)}
        signing = _HEADER + b"." + _b64(json.dumps(payload, separators=(",", ":")).encode())
        with self._lock:
            secret = self._secret
        sig = _b64(hmac.new(secret, signing, hashlib.sha256).digest())
        return (signing + b"." + sig).decode()

    def verify(self, authorization: Optional[str]) -> Tuple[bool, str]:
        """(ok, error message) for an Authorization header value."""
        if not authorization or not authorization.startswith("Bearer "):
            return False, NOT_FOUND
        token = authorization[7:].strip()
        if not token:
            return False, NOT_FOUND
        with self._lock:
            secret, gen = self._secret, self._gen
        cached = self._valid.get(token)
        if cached is not None and cached[1] == gen:
            exp = cached[0]
        else:
            checked = self._check_signature(token, secret)
            if checked is None:
                return False, INVALID
            exp = checked
            with self._lock:
                if len(self._valid) >= _CACHE_MAX:
                    self._valid.clear()
                self._valid[token] = (exp, gen)
        if time.time() >= exp:
            return False, EXPIRED
        return True, ""

    @staticmethod
    def _check_signature(token: str, secret: bytes) -> Optional[float]:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = _b64(hmac.new(secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2].encode()):
            return None
        try:
            exp = json.loads(_unb64(parts[1]))["exp"]
            return float(exp)
        except (ValueError, KeyError, TypeError):
            return None

    def revoke(self) -> None:
        with self._lock:
            self.revoked = True
            self._gen += 1
            self._secret = secrets.token_bytes(32)
            self._valid.clear()

    def restore(self) -> None:
        """The key works again (tokens issued before the revocation stay invalid)."""
        with self._lock:
            self.revoked = False
