"""ExaVault: the HTTP client (``api``), its answers (``models``) and the Backend over them."""
