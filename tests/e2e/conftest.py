"""The wheelhouse fixture for the fresh-venv tests."""

from tests.e2e.venv import wheels

__all__ = ["wheels"]
