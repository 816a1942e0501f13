"""What can go wrong calling a model, in Plait's terms.

Adapters catch their SDK's exceptions at the boundary and raise one of these, so nothing
above ``providers`` knows a vendor's error classes. The codes and statuses are Dify's (a
failed model call is ``completion_request_error``, 400; a provider rate limit is 429).

    ModelError                   400 completion_request_error
    ├── ModelNotConfigured       400 provider_not_initialize   (no credentials, unknown provider)
    ├── ModelNotSupported        400 model_currently_not_support (the model lacks a capability)
    ├── ModelAuthFailed          400 completion_request_error  (the vendor refused the key)
    ├── ModelBadRequest          400 completion_request_error  (the vendor refused the request)
    │   └── ModelContextTooLong  400 completion_request_error
    ├── ModelRateLimited         429 too_many_requests          retryable, ``retry_after``
    ├── ModelTimeout             400 completion_request_error   retryable
    └── ModelUnavailable         400 completion_request_error   retryable (5xx, connection failed, broken stream)
"""

from __future__ import annotations

from plait.errors import PlaitError


class ModelError(PlaitError):
    """A model call failed; the message is for the workflow's author."""

    code = "completion_request_error"
    status = 400
    retryable = False


class ModelNotConfigured(ModelError):
    code = "provider_not_initialize"


class ModelNotSupported(ModelError):
    code = "model_currently_not_support"


class ModelAuthFailed(ModelError):
    pass


class ModelBadRequest(ModelError):
    pass


class ModelContextTooLong(ModelBadRequest):
    pass


class ModelRateLimited(ModelError):
    code = "too_many_requests"
    status = 429
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelTimeout(ModelError):
    retryable = True


class ModelUnavailable(ModelError):
    retryable = True
