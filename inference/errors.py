"""Generation errors: each says what went wrong and, through `retryable`, whether trying again can help."""

from __future__ import annotations


class GenerationError(Exception):
    """A note could not be generated. `retryable` is True when the same call may succeed later."""

    retryable: bool = False

    def __init__(self, message: str, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class InputTooLong(GenerationError):
    """The dialogue does not fit the model's context with room for the note; shorten or split it."""

    def __init__(self, message: str, *, prompt_tokens: int = 0, limit: int = 0) -> None:
        super().__init__(message, retryable=False)
        self.prompt_tokens = prompt_tokens
        self.limit = limit


class Truncated(GenerationError):
    """Generation hit max_new_tokens before the note closed; the partial text is in `.raw`."""

    def __init__(self, message: str, *, raw: str = "", tokens: int = 0) -> None:
        super().__init__(message, retryable=False)
        self.raw = raw
        self.tokens = tokens


class InvalidOutput(GenerationError):
    """The model's output is not a valid note (unconstrained generation); `.reason` says why, `.raw` holds it."""

    def __init__(self, message: str, *, raw: str = "", reason: str = "") -> None:
        super().__init__(message, retryable=False)
        self.raw = raw
        self.reason = reason


class BackendUnavailable(GenerationError):
    """The backend cannot be reached or is not installed; retry later or pick another backend."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable)
