"""Webhook payloads as ExaVault sends them (the documented examples) and builders for v1/v2 bodies."""

from __future__ import annotations

import json

from syncd.remote.webhook import WebhookEvent

TOKEN = "efb7e0030e6cef1b45d3d74a67881a2b"


CONNECT = (b'{"accountname":"exampleaccount","username":"exampleaccount","operation":"Connect",'
           b'"protocol":"web","path":"","sourcepath":"","attempt":1}')


UPLOAD = (b'{"accountname":"exampleaccount","username":"exampleaccount","operation":"Upload",'
          b'"protocol":"web","path":"\\/7df2beb1c50a8a066493ee47669a4319.jpg","sourcepath":"",'
          b'"attempt":1}')


UPLOAD_EVENT = WebhookEvent("upload", "/7df2beb1c50a8a066493ee47669a4319.jpg",
                            account="exampleaccount")


# ----------------------------------------------------------------------- parse: v1
def v1(operation, path="", sourcepath="", **extra) -> bytes:
    doc = {"accountname": "acme", "username": "bob", "operation": operation,
           "protocol": "web", "path": path, "sourcepath": sourcepath, "attempt": 1, **extra}
    return json.dumps(doc).encode()


# ----------------------------------------------------------------------- parse: v2
def v2(event, *resources, **extra) -> bytes:
    doc = {"accountName": "acme", "attemptId": "a1", "event": event,
           "eventTimestamp": "2024-01-02T03:04:05Z", "ipAddress": "10.0.0.1",
           "protocol": "web", "username": "bob",
           "eventData": {"resources": list(resources), "share": [], "formDetails": [],
                         "transferStatus": "success"}, **extra}
    return json.dumps(doc).replace("/", "\\/").encode()
