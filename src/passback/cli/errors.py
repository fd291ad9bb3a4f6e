"""The CLI's own error: a problem the operator can fix, printed without a traceback."""


class CliError(Exception):
    pass
