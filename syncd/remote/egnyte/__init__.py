"""Egnyte's Public API: the client (``api``, ``transfer``), its answers and name
rules (``models``), the shared per-second limiter (``limiter``) and the
``Backend`` (``backend``). Only ``syncd.session`` may import this package."""
