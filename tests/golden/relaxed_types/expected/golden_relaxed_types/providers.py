"""Dependencies of the handlers. Created once by qxgen: this file is yours to edit.

Declare APP-scoped clients (connection pools, HTTP clients) and REQUEST-scoped units of work
here; a handler asks for them in its ``__init__``. ``qx.core.RequestContext`` (correlation id,
tenant) is injectable in the REQUEST scope. See https://dishka.readthedocs.io.
"""

from dishka import Provider, Scope


class AppProvider(Provider):
    scope = Scope.APP


def providers() -> list[Provider]:
    """The providers the worker's container is built from."""
    return [AppProvider()]
