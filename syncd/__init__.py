"""syncd: two-way sync between local folders and ExaVault."""

__version__ = "0.1.0"
