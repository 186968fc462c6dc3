"""The auth library's errors: one root, and the cases callers branch on."""

from __future__ import annotations


class AuthError(Exception):
    """Root of every error this library raises."""


class InvalidCredentials(AuthError):  # noqa: N818 - reads as a fact, like the store's NotFound
    """A credential that is missing, malformed, expired, revoked or simply wrong."""


class TokenExpired(InvalidCredentials):
    """An access token past its `exp`: the caller proved itself once and needs a fresh one
    (not the same verdict as a forged, revoked or unknown credential)."""


class Forbidden(AuthError):  # noqa: N818
    """The caller is known but its role does not allow the action."""


class RefreshReused(InvalidCredentials):
    """A refresh token presented a second time: its whole family is now revoked."""

    def __init__(self, message: str, *, subject: str, tenant_id: str) -> None:
        super().__init__(message)
        self.subject = subject
        """The user whose sessions were revoked, for the audit log."""
        self.tenant_id = tenant_id


class KeyProviderError(AuthError):
    """The key-encryption-key provider (key file, KMS) failed or refused."""


class DecryptionFailed(AuthError):  # noqa: N818
    """A sealed secret did not authenticate: wrong key, wrong context, or tampered."""
