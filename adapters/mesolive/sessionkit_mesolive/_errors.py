"""MesoLive errors, in the two families the SDK documents, plus :func:`unwrap`.

* :class:`MesoLiveApiException`: the hub answered with an envelope whose ``Status`` is not
  ``Success`` (the one exception whose name does not end in ``Error``: it is the SDK's
  name, and ``MesoLiveApiError`` is the SDK's error model, :mod:`.models`). One subclass
  per known :class:`~.models.StatusCode`; an unknown status raises the base class with the
  raw status kept. ``DuplicateRequest`` and ``Conflict`` are normal
  control flow for idempotent calls: catch :class:`DuplicateRequestError` /
  :class:`ConflictError`, or test with :func:`is_duplicate_request` / :func:`is_conflict`.
* :class:`MesoLiveSignalRError`: the transport, the protocol or the *shape* of a payload was
  wrong. :class:`DecodeError` (a payload did not fit its model) is one of them.

>>> exc = api_exception("Conflict", "key still processing")
>>> type(exc).__name__, is_conflict(exc), exc.status
('ConflictError', True, <StatusCode.CONFLICT: 'Conflict'>)
>>> from sessionkit_mesolive.models import StartPreparationResult
>>> unwrap({"Status": "Success", "Data": {"JobId": "j-1"}}, StartPreparationResult)
StartPreparationResult(job_id='j-1')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from .models import MesoLiveApiError, MesoLiveApiResponse, StatusCode, open_enum

if TYPE_CHECKING:
    from ._converters import MesoLiveConverter

__all__ = [
    "MesoLiveError",
    "MesoLiveSignalRError",
    "DecodeError",
    "EncodeError",
    "InvalidIdempotencyKeyError",
    "MesoLiveApiException",
    "DuplicateRequestError",
    "ConflictError",
    "BadRequestError",
    "NotFoundError",
    "UnauthorizedError",
    "ForbiddenError",
    "ProviderError",
    "InternalServerError",
    "api_exception",
    "is_duplicate_request",
    "is_conflict",
    "unwrap",
]

T = TypeVar("T")


class MesoLiveError(Exception):
    """Base of every MesoLive error."""


class MesoLiveSignalRError(MesoLiveError):
    """Transport, protocol or payload-shape failure (the SDK's ``MesoLiveSignalRError``)."""


class DecodeError(MesoLiveSignalRError, ValueError):
    """A payload does not fit its model.

    ``path`` names the model and the field (``LiveLeg.live_contract.strike``), ``problem``
    says what was wrong with the value; ``problems`` lists every ``(path, problem)`` found.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        if not problems:
            problems = [("?", "invalid payload")]
        self.problems = problems
        self.path, self.problem = problems[0]
        text = f"{self.path}: {self.problem}"
        if len(problems) > 1:
            more = "; ".join(f"{p}: {m}" for p, m in problems[1:4])
            if len(problems) > 4:
                more += "; ..."
            text += f" (and {len(problems) - 1} more: {more})"
        super().__init__(text)


class EncodeError(MesoLiveError, ValueError):
    """A value cannot be put on the wire (a naive datetime, a non-finite Decimal, ...)."""


class InvalidIdempotencyKeyError(MesoLiveError, ValueError):
    """An idempotency key breaks the rules in :func:`~._catalogue.validate_idempotency_key`."""


class MesoLiveApiException(MesoLiveError):
    """The hub returned ``Status != Success``.

    ``status`` is the :class:`~.models.StatusCode` member (or the raw text of an unknown one),
    ``message`` and ``error`` the envelope's ``Message`` and ``Error``; ``data`` the raw
    ``Data`` if the server sent any (for ``DuplicateRequest`` it may carry the original
    outcome, **inferred**).
    """

    status_code: StatusCode | None = None

    def __init__(
        self,
        status: StatusCode | str,
        message: str | None = None,
        error: MesoLiveApiError | None = None,
        data: Any = None,
    ) -> None:
        self.status = open_enum(StatusCode, status) if isinstance(status, str) else status
        self.message = message
        self.error = error
        self.data = data
        text = f"{self.status}"
        if message:
            text += f": {message}"
        if error is not None and error.code:
            text += f" [{error.code}]"
        if error is not None and error.detail and error.detail != message:
            text += f" ({error.detail})"
        super().__init__(text)

    @property
    def is_duplicate_request(self) -> bool:
        return self.status == StatusCode.DUPLICATE_REQUEST

    @property
    def is_conflict(self) -> bool:
        return self.status == StatusCode.CONFLICT


class DuplicateRequestError(MesoLiveApiException):
    """An idempotent operation with this key already completed: do not run it again."""

    status_code = StatusCode.DUPLICATE_REQUEST


class ConflictError(MesoLiveApiException):
    """The key is still being processed, or was reused for a different request."""

    status_code = StatusCode.CONFLICT


class BadRequestError(MesoLiveApiException):
    """The request was invalid (status name **inferred**)."""

    status_code = StatusCode.BAD_REQUEST


class NotFoundError(MesoLiveApiException):
    """Something the request names does not exist (status name **inferred**)."""

    status_code = StatusCode.NOT_FOUND


class UnauthorizedError(MesoLiveApiException):
    """Not authenticated (status name **inferred**)."""

    status_code = StatusCode.UNAUTHORIZED


class ForbiddenError(MesoLiveApiException):
    """Authenticated but not allowed (status name **inferred**)."""

    status_code = StatusCode.FORBIDDEN


class ProviderError(MesoLiveApiException):
    """A provider, broker or connector failed (status name **inferred**)."""

    status_code = StatusCode.PROVIDER_ERROR


class InternalServerError(MesoLiveApiException):
    """The server failed (status name **inferred**)."""

    status_code = StatusCode.INTERNAL_ERROR


_BY_STATUS: dict[str, type[MesoLiveApiException]] = {
    str(cls.status_code): cls
    for cls in (DuplicateRequestError, ConflictError, BadRequestError, NotFoundError,
                UnauthorizedError, ForbiddenError, ProviderError, InternalServerError)
}


def api_exception(
    status: StatusCode | str,
    message: str | None = None,
    error: MesoLiveApiError | None = None,
    data: Any = None,
) -> MesoLiveApiException:
    """The exception for a non-Success ``status``: its subclass when known, else the base."""
    cls = _BY_STATUS.get(str(status), MesoLiveApiException)
    return cls(status, message, error, data)


def is_duplicate_request(exc: BaseException) -> bool:
    """Whether ``exc`` is an API error with status ``DuplicateRequest``."""
    return isinstance(exc, MesoLiveApiException) and exc.is_duplicate_request


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is an API error with status ``Conflict``."""
    return isinstance(exc, MesoLiveApiException) and exc.is_conflict


def unwrap(
    response: Any,
    result_type: type[T] | Any,
    *,
    converter: MesoLiveConverter | None = None,
) -> T:
    """Decode a ``MesoLiveApiResponse`` and return its ``Data`` as ``result_type``.

    ``response`` is the raw envelope (a decoded JSON dict, or JSON ``bytes``/``str``).
    Raises :class:`MesoLiveApiException` (a subclass when the status is known) for any status
    but ``Success``, and :class:`MesoLiveSignalRError` (:class:`DecodeError`) when the envelope
    or its data does not have the expected shape. A ``Success`` without ``Data`` is only
    accepted when ``result_type`` allows ``None``.
    """
    from ._converters import default_converter

    conv = converter if converter is not None else default_converter
    if isinstance(response, bytes | bytearray | memoryview | str):
        response = conv.loads_json(response)
    if not isinstance(response, dict):
        raise MesoLiveSignalRError(
            f"MesoLiveApiResponse: expected a JSON object, got {type(response).__name__}")
    if "Status" not in response:
        raise DecodeError([("MesoLiveApiResponse.status", "required field missing")])
    status: StatusCode | str = response["Status"]
    message = response.get("Message")
    error = response.get("Error")
    if not (status == "Success" and type(status) is str and error is None
            and (message is None or type(message) is str)):
        head = conv.structure({k: response[k] for k in ("Status", "Message", "Error")
                               if k in response}, MesoLiveApiResponse[Any],
                              path="MesoLiveApiResponse")
        status, message, error = head.status, head.message, head.error
    data = response.get("Data")
    if status != StatusCode.SUCCESS:
        raise api_exception(status, message, error, data)
    if data is None and result_type is not None and not conv.allows_none(result_type):
        raise DecodeError([("MesoLiveApiResponse.data",
                            f"required for {conv.type_name(result_type)}, got null")])
    return conv.structure(data, result_type)  # type: ignore[no-any-return]
