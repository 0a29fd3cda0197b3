"""Errors the command line turns into exit statuses."""


class UsageError(Exception):
    """Bad command-line input: reported on stderr, exit status 2."""
