from qxgen.cli import main

main()
