"""An Egnyte Public API emulator (file system, events, notes) on a loopback port."""

from .app import Emulator, OtherUser

__all__ = ["Emulator", "OtherUser"]
