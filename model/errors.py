"""One exception type for bad user input, so every command reports it the same way."""


class InputError(Exception):
    """Bad input from the user: a file, a line or a field we cannot use.

    The message names the place (`path`, `path:line` or `key`), so the command line can
    print it as one line and exit with status 2.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        self.reason = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
