"""Emulators of the services syncd speaks to: real HTTP on loopback, on-disk storage.
They import nothing from the rest of syncd."""
