"""The errors (and the one warning) raised when an exported artifact is read back.

Every class is a ``ValueError`` (the file's content is wrong, not its type), so a caller that only wants
"refuse this file" catches ``ValueError``; a caller that wants to tell the cases apart catches the class:

``ArtifactError``                 not a valid lowprec artifact (foreign, truncated, wrong dtype or shape ...)
  ``ArtifactIntegrityError``      content digest missing or not matching: a corrupt or modified file
    ``SignatureError``            keyed signature (HMAC-SHA256) missing or not matching the given key
  ``ArtifactInconsistentError``   graph, initializers and the config stored in metadata disagree
  ``ArtifactLimitError``          a value (e.g. Gibbs steps) above a resource limit the caller can raise
``KeyFileError``                  a signing/verification key file that cannot be used (never prints the key)
"""
from __future__ import annotations

__all__ = ["ArtifactError", "ArtifactIntegrityError", "SignatureError", "ArtifactInconsistentError",
           "ArtifactLimitError", "KeyFileError", "ArtifactIntegrityWarning"]


class ArtifactError(ValueError):
    """An ONNX file is not a valid lowprec artifact (the message says what is wrong)."""


class ArtifactIntegrityError(ArtifactError):
    """The content digest is missing or does not match: the file was modified or is corrupt."""


class SignatureError(ArtifactIntegrityError):
    """The keyed signature is missing or was not made with the given key."""


class ArtifactInconsistentError(ArtifactError):
    """The graph (node attributes, inputs, initializers, function bodies) is not what its config implies."""


class ArtifactLimitError(ArtifactError):
    """A value of the file exceeds a resource limit (raise the limit to accept it)."""


class KeyFileError(ValueError):
    """A key file is missing, unreadable or too short. Messages name the file, never its bytes."""


class ArtifactIntegrityWarning(UserWarning):
    """An integrity check was switched off by the caller and would have refused the file."""
