"""A faithful, self-contained emulator of the ExaVault REST API v2 (see docs/emulator.md).

Imports nothing from the rest of syncd.
"""

from .app import Emulator, ListPage, RequestRecord
from .store import Invalid, NotFound

__all__ = ["Emulator", "ListPage", "RequestRecord", "NotFound", "Invalid"]
