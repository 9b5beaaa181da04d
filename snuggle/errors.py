"""The snuggle exception hierarchy: one base class, one subclass per domain.

Every error raised on bad input names the problem and the fix: which file, field or
argument, what was expected and what was found.

>>> from snuggle.errors import TokenizerError
>>> try:
...     raise TokenizerError("tokenizer.json: model.type is 'Foo'; expected one of BPE, WordPiece")
... except SnuggleError as e:
...     print(e)
tokenizer.json: model.type is 'Foo'; expected one of BPE, WordPiece
"""

from __future__ import annotations


class SnuggleError(Exception):
    """Base class of every error snuggle raises on purpose."""


class ConfigError(SnuggleError, ValueError):
    """A configuration file or argument is malformed or inconsistent."""


class FileFormatError(SnuggleError, ValueError):
    """A file on disk does not follow the format it claims (JSON path or line named)."""

    def __init__(self, message: str, *, path: str | None = None, where: str | None = None):
        prefix = ""
        if path is not None:
            prefix = f"{path}"
            if where:
                prefix += f" ({where})"
            prefix += ": "
        elif where:
            prefix = f"{where}: "
        super().__init__(prefix + message)
        self.path = path
        self.where = where


class TokenizerError(SnuggleError, ValueError):
    """Tokenizer construction, training or encoding failed because of its input."""


class TokenizerFileError(FileFormatError, TokenizerError):
    """A tokenizer file (tokenizer.json, merges.txt, vocab.txt, .model, ranks) is malformed."""


class DataError(SnuggleError, ValueError):
    """Dataset loading or processing failed because of its input."""


class ModelError(SnuggleError, ValueError):
    """Model config, weights or architecture mismatch."""


class HubError(SnuggleError):
    """The Hub client or server refused a request or returned something unexpected."""


class TrainingError(SnuggleError):
    """Training set-up or a checkpoint is inconsistent."""


class MissingDependencyError(SnuggleError, ImportError):
    """An optional dependency is needed for this feature; the message names the extra."""
