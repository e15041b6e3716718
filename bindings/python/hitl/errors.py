"""Exceptions: one hitl.Error base, one subclass per hitl_status.

Every failed libhitl call raises the subclass for its status, carrying the
library's detail message (hitl_error_message(), e.g. "hitl_pool_add:
rows[3][17] is NaN").  Each subclass also derives from the closest built-in
exception, so `except ValueError` keeps working for code that does not know
hitl:

    hitl.InvalidArgument  ValueError    HITL_EINVAL
    hitl.OutOfMemory      MemoryError   HITL_ENOMEM
    hitl.StateError       RuntimeError  HITL_ESTATE
    hitl.NumericError     ValueError    HITL_ENUMERIC
    hitl.FileIOError      OSError       HITL_EIO
    hitl.FormatError      ValueError    HITL_EFORMAT
    hitl.CallbackError    RuntimeError  HITL_ECALLBACK
    hitl.NotFound         KeyError      HITL_ENOTFOUND

A failure inside a Python callback (a custom model's fit or predict_proba) is
not turned into CallbackError: the original exception is raised again from
the libhitl call that invoked the callback.
"""
from ._ffi import ffi, lib
from ._enums import Status

__all__ = ["Error", "InvalidArgument", "OutOfMemory", "StateError",
           "NumericError", "FileIOError", "FormatError", "CallbackError",
           "NotFound", "error_class"]


class Error(Exception):
    """Base of every libhitl failure.  `status` is the hitl_status value,
    `message` the library's detail text."""

    status = None

    def __init__(self, message="", status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self):  # KeyError would otherwise print repr(message)
        return self.message


class InvalidArgument(Error, ValueError):
    """An argument is invalid: NULL, out of range, wrong shape or dtype."""
    status = Status.EINVAL


class OutOfMemory(Error, MemoryError):
    """An allocation failed."""
    status = Status.ENOMEM


class StateError(Error, RuntimeError):
    """Not allowed in the object's state (an unfitted model, a closed handle)."""
    status = Status.ESTATE


class NumericError(Error, ValueError):
    """NaN or Inf in the input, or a computation that produced one."""
    status = Status.ENUMERIC


class FileIOError(Error, OSError):
    """Reading or writing a file failed."""
    status = Status.EIO


class FormatError(Error, ValueError):
    """Serialized data is corrupt, truncated or of an unsupported version."""
    status = Status.EFORMAT


class CallbackError(Error, RuntimeError):
    """A caller-supplied callback reported failure."""
    status = Status.ECALLBACK


class NotFound(Error, KeyError):
    """An item id is not in the pool."""
    status = Status.ENOTFOUND


# Explicit classes by status; tests require one for every HITL_E* value.
STATUS_CLASSES = {cls.status: cls for cls in (
    InvalidArgument, OutOfMemory, StateError, NumericError, FileIOError,
    FormatError, CallbackError, NotFound)}


def error_class(status):
    """The exception class for a negative status.  A status newer than these
    bindings still gets its own Error subclass, named after the enum."""
    cls = STATUS_CLASSES.get(status)
    if cls is None:
        try:
            name = Status(status).name.capitalize() + "Error"
        except ValueError:
            name = "UnknownStatusError"
        cls = type(name, (Error,), {"status": status, "__module__": "hitl"})
        STATUS_CLASSES[status] = cls
    return cls


def last_message(status):
    """The calling thread's detail message, or the status name if empty."""
    msg = ffi.string(lib.hitl_error_message()).decode("utf-8", "replace")
    return msg or ffi.string(lib.hitl_strerror(status)).decode()


def raise_status(status):
    """Raise the exception for a failed call's status (call right after it,
    on the same thread: the detail message is thread-local)."""
    raise error_class(status)(last_message(status), status)
