"""One module per ``qxgen`` subcommand; ``qxgen.cli`` adds each to the group."""
