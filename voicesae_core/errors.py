"""One exception type for every bad input, so callers can catch it and users read one clear line."""


class VoicesaeError(ValueError):
    """Bad input or state: the message names the file, row and field (or argument) at fault."""
