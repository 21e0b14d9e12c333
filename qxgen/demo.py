"""``python -m qxgen.demo`` (what ``make demo`` runs): see ``qxgen.commands.demo``."""

from qxgen.commands.demo import demo

if __name__ == "__main__":
    demo()
