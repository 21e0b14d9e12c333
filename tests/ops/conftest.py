"""The ops tests reuse the runtime tests' worker factory (short timings, one stream per test)."""

from tests.runtime.conftest import make_worker, names, nc, registry

__all__ = ["make_worker", "names", "nc", "registry"]
