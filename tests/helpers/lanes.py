"""What the fast lane (tests/unit/) refuses: the error its guard raises."""


class LaneViolation(AssertionError):
    """A unit test reached for the network or a subprocess."""
