"""Helpers shared by tests: import them from here, never from conftest or from another test module."""
