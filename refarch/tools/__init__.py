"""Command-line tools that operate the patterns (run with ``python -m refarch.tools.<name>``)."""
