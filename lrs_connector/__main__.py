"""`python -m lrs_connector` is the `lrs-connector` command."""

from lrs_connector.cli import main

main(prog_name="lrs-connector")
