"""`python -m nudge …` is the `nudge` command."""

from nudge.platform.cli import main

main()
