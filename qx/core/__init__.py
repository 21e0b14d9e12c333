"""Small value types shared by every part of qx."""

from qx.core._context import RequestContext, use_context
from qx.core._result import Error, Result

__all__ = ["Error", "RequestContext", "Result", "use_context"]
