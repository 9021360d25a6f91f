"""The probes' one error."""


class ProbeError(ValueError):
    """A probe cannot be built from its settings or data."""
