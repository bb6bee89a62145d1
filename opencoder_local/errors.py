"""Errors a user can cause: each carries one line that says what went wrong and what to do."""


class UserError(Exception):
    """A problem with the user's input or machine; shown as one line, never a traceback."""


class ModelFileError(UserError):
    """The model file is missing, not a GGUF, truncated, or of an unsupported kind."""


class UnknownModelError(UserError):
    """A model name that is neither a known name nor a path to a GGUF file."""
