"""Tideflow authentication and authorisation building blocks.

Roles and principals, API tokens, password hashing, JWT access tokens with rotating keys
(JWKS), refresh-token rotation with reuse detection, the FastAPI RBAC dependency, per-tenant
rate limiting (Redis or in process) and envelope encryption of secrets with pluggable
key-encryption-key providers (local key file, AWS KMS).
"""

from tideflow.auth._authenticator import PLATFORM_ADMIN, Authenticator
from tideflow.auth._envelope import Envelope, Sealed
from tideflow.auth._errors import (
    AuthError,
    DecryptionFailed,
    Forbidden,
    InvalidCredentials,
    KeyProviderError,
    RefreshReused,
    TokenExpired,
)
from tideflow.auth._http import current_principal, requires, websocket_principal
from tideflow.auth._jwt import ACCESS_TTL, KeyRing
from tideflow.auth._keys import AwsKms, KeyProvider, LocalKeyFile, WrappedKey, key_provider
from tideflow.auth._login_audit import FAILED_LOGIN, REQUEST_SOURCE, record_failed_login
from tideflow.auth._passwords import MIN_PASSWORD_LENGTH, PasswordHasher
from tideflow.auth._quotas import (
    LOGIN_LIMIT,
    Quota,
    RateLimited,
    TenantQuotas,
    check_password_rate,
    rate_limiter,
)
from tideflow.auth._ratelimit import (
    InProcessRateLimiter,
    Limit,
    RateDecision,
    RateLimiter,
    RedisRateLimiter,
)
from tideflow.auth._roles import DEFAULT_TENANT, Principal, PrincipalKind, Role
from tideflow.auth._secrets import SECRET_NAME, RewrapReport, Secrets, env_secrets
from tideflow.auth._sessions import REUSE_GRACE, Sessions, TokenPair
from tideflow.auth._tokens import IssuedToken, issue, parse

__all__ = [
    "ACCESS_TTL",
    "DEFAULT_TENANT",
    "FAILED_LOGIN",
    "LOGIN_LIMIT",
    "MIN_PASSWORD_LENGTH",
    "PLATFORM_ADMIN",
    "REQUEST_SOURCE",
    "REUSE_GRACE",
    "SECRET_NAME",
    "AuthError",
    "Authenticator",
    "AwsKms",
    "DecryptionFailed",
    "Envelope",
    "Forbidden",
    "InProcessRateLimiter",
    "InvalidCredentials",
    "IssuedToken",
    "KeyProvider",
    "KeyProviderError",
    "KeyRing",
    "Limit",
    "LocalKeyFile",
    "PasswordHasher",
    "Principal",
    "PrincipalKind",
    "Quota",
    "RateDecision",
    "RateLimited",
    "RateLimiter",
    "RedisRateLimiter",
    "RefreshReused",
    "RewrapReport",
    "Role",
    "Sealed",
    "Secrets",
    "Sessions",
    "TenantQuotas",
    "TokenExpired",
    "TokenPair",
    "WrappedKey",
    "check_password_rate",
    "current_principal",
    "env_secrets",
    "issue",
    "key_provider",
    "parse",
    "rate_limiter",
    "record_failed_login",
    "requires",
    "websocket_principal",
]
