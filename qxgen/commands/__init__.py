"""One module per ``qxgen`` subcommand; ``qxgen.cli`` adds each to the group.

The pieces other qxgen modules share (the error boundary, listing tables) are exported here.
"""

from qxgen.commands._boundary import QxgenGroup
from qxgen.commands._table import Column, cap, print_listing

__all__ = ["Column", "QxgenGroup", "cap", "print_listing"]
