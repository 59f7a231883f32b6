"""Remote storage backends. ``exavault_api`` is the only module in syncd that speaks HTTP
(``exavault_models`` parses its answers);
``errors`` holds the backend-neutral typed errors every backend raises."""

from syncd.remote.errors import (AuthError, ForbiddenError, InvalidParameterError, NotFoundError,
                                 NotSupportedError, ProtocolError, RateLimitedError, RemoteError,
                                 ServerError, SourceChangedError, TransportError)
from syncd.remote.exavault.api import ExaVaultClient, RetryPolicy
from syncd.remote.exavault.models import (Account, ActivityEntry, ItemResult, Operation, Page,
                                          RateLimit, RequestEvent, Resource, as_identifier,
                                          parse_time)

__all__ = [
    "Account", "ActivityEntry", "AuthError", "ExaVaultClient", "ForbiddenError",
    "InvalidParameterError", "ItemResult", "NotFoundError", "NotSupportedError", "Operation",
    "Page", "ProtocolError", "RateLimit", "RateLimitedError", "RemoteError", "RequestEvent",
    "Resource", "RetryPolicy", "ServerError", "SourceChangedError", "TransportError",
    "as_identifier", "parse_time",
]
