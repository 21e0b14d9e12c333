"""The version written into generated headers and manifests."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("qxgen")
except PackageNotFoundError:  # running from a source tree without installing
    VERSION = "0+unknown"
