"""Errors that carry a message meant for a person (CLI and app show them as-is)."""


class XmrError(Exception):
    """Base of every error xmr reports to a user: the message names the file/field and the fix."""


class DatasetError(XmrError):
    """A dataset file is malformed, incomplete or unsafe."""


class ImageError(XmrError):
    """An image file cannot be used (not an image, corrupt, empty, too large)."""


class EncodingError(XmrError):
    """A caption cannot be encoded (empty, nothing in the vocabulary)."""


class RunError(XmrError):
    """A run bundle is missing files, truncated, or does not match its config."""


class VectorsError(XmrError):
    """Imported vectors cannot be used (unknown or missing ids, a wrong dimension, NaN or zero rows,
    a missing column)."""
