"""The one error type for mistakes in what a user brings: files, columns, values, arguments.

:class:`UserInputError` subclasses ``ValueError`` so callers that catch ``ValueError`` keep
working. Its message is one line that says where (file, line, column), what arrived, what was
expected and how to fix it; the recipes print exactly that line and exit with status 2
(a traceback only with ``--debug``).
"""
from __future__ import annotations


class UserInputError(ValueError):
    """A user's file, value or argument is wrong; the message says where, what and how to fix it."""


class MissingColumnError(UserInputError, KeyError):
    """A column the user named (or the data needs) is not in their table; also a ``KeyError``,
    which is what table code raised before."""

    def __str__(self) -> str:  # KeyError quotes its message; this one is a sentence
        return str(self.args[0]) if self.args else ""
