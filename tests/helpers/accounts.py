"""The emulator account every test uses, and the client retry policy that keeps tests fast."""

API_KEY = "test-api-key-5f2a9c"
ACCESS_TOKEN = "test-access-token-81be07"

# Retries short enough for tests (the client's real policy waits seconds).
FAST_RETRY = dict(attempts=6, total_seconds=10.0, initial_backoff=0.001, max_backoff=0.02,
                  jitter=0.005)
