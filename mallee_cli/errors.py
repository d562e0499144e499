"""The one error a command prints as one line (no traceback) and exits 1 on."""


class CliError(Exception):
    pass
