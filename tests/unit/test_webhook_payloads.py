"""ExaVault webhook pushes without a server: the signature vectors (docs/exavault-api.md §14.2),
payload parsing (v1 and v2) and the receiver's constructor checks."""

from __future__ import annotations

import json

import pytest

from syncd.remote.exavault.webhook import FORMAT, parse, signature, verify
from syncd.remote.webhook import WebhookEvent, WebhookPayloadError, WebhookServer
from tests.helpers.webhook import CONNECT, TOKEN, UPLOAD, UPLOAD_EVENT, v1, v2

DISCONNECT = CONNECT.replace(b'"Connect"', b'"Disconnect"')


# ----------------------------------------------------------------------- signature
@pytest.mark.parametrize("body, expected", [
    (CONNECT, "6e13eb14edfd0bd54feff96be131e155"),
    (DISCONNECT, "186e8c73793666c8b5cfa0b55eee691d"),
    (UPLOAD, "e86119ce1b679c7b6010d9ac9a843a36"),
])
def test_signature_matches_the_documented_vectors(body, expected):
    assert signature(TOKEN, body) == expected
    assert verify(TOKEN, body, expected)
    assert verify(TOKEN, body, expected.upper())
    assert verify(TOKEN, body, f" {expected}\t")
    assert not verify(TOKEN + "x", body, expected)
    assert not verify(TOKEN, body + b" ", expected)


def test_reserialised_body_does_not_verify():
    reserialised = json.dumps(json.loads(UPLOAD), separators=(",", ":")).encode()
    assert b"\\/" not in reserialised and reserialised != UPLOAD
    assert not verify(TOKEN, reserialised, "e86119ce1b679c7b6010d9ac9a843a36")


@pytest.mark.parametrize("header", [
    None, "", "zz13eb14edfd0bd54feff96be131e155", "6e13eb14edfd0bd54feff96be131e15",
    "6e13eb14edfd0bd54feff96be131e1555", "6e13eb14 edfd0bd54feff96be131e155",
    "６e13eb14edfd0bd54feff96be131e155", "0x6e13eb14edfd0bd54feff96be131e1", 12345,
])
def test_verify_rejects_missing_and_garbage_headers(header):
    assert verify(TOKEN, CONNECT, header) is False


def test_verify_never_accepts_an_empty_token():
    assert not verify("", CONNECT, signature("", CONNECT))


def test_parse_v1_documented_examples():
    assert parse(UPLOAD) == [UPLOAD_EVENT]
    assert parse(CONNECT) == [WebhookEvent("other", "", account="exampleaccount")]
    assert parse(DISCONNECT) == [WebhookEvent("other", "", account="exampleaccount")]


@pytest.mark.parametrize("operation, op", [
    ("Upload", "upload"), ("UPLOAD", "upload"), ("Delete", "delete"),
    ("Create Folder", "mkdir"), ("CreateFolder", "mkdir"), ("create folder", "mkdir"),
    ("Mkdir", "mkdir"), ("Rename", "rename"), ("Move", "move"), ("Copy", "copy"),
    ("Download", "download"), ("Extract", "upload"), ("Compress", "upload"),
    ("Connect", "other"), ("Disconnect", "other"), ("Share", "other"), ("", "other"),
])
def test_parse_v1_operation_labels(operation, op):
    assert parse(v1(operation, "/a/b.txt")) == [WebhookEvent(op, "/a/b.txt", account="acme")]


def test_parse_v1_move_keeps_source_and_normalises_paths():
    assert parse(v1("Move", "new/b.txt", "/old//b.txt")) == [
        WebhookEvent("move", "/new/b.txt", source="/old/b.txt", account="acme")]
    assert parse(v1("Create Folder", "/docs/")) == [WebhookEvent("mkdir", "/docs", account="acme")]
    assert parse(v1("Delete", "/")) == [WebhookEvent("delete", "/", account="acme")]


def test_parse_v1_tolerates_missing_optional_fields():
    body = json.dumps({"operation": "Delete", "path": "/x", "sourcepath": None}).encode()
    assert parse(body) == [WebhookEvent("delete", "/x")]


def test_parse_v2_one_event_per_resource():
    body = v2("resources.upload", {"id": 1, "path": "/a/1.txt", "size": 3},
              {"id": 2, "path": "a/2.txt/"})
    assert parse(body) == [WebhookEvent("upload", "/a/1.txt", account="acme"),
                           WebhookEvent("upload", "/a/2.txt", account="acme")]


@pytest.mark.parametrize("event, op", [
    ("resources.upload", "upload"), ("resources.download", "download"),
    ("resources.delete", "delete"), ("resources.createFolder", "mkdir"),
    ("RESOURCES.CREATEFOLDER", "mkdir"), ("resources.rename", "rename"),
    ("resources.copy", "copy"), ("resources.move", "move"),
    ("resources.compress", "upload"), ("resources.extract", "upload"),
    ("resources.somethingNew", "other"),
])
def test_parse_v2_events(event, op):
    assert parse(v2(event, {"path": "/f"})) == [WebhookEvent(op, "/f", account="acme")]


def test_parse_v2_rename_source_path():
    body = v2("resources.rename", {"path": "/d/new.txt", "sourcePath": "/d/old.txt"})
    assert parse(body) == [WebhookEvent("rename", "/d/new.txt", "/d/old.txt", "acme")]


def test_parse_v2_form_submit_is_other():
    assert parse(v2("shares.formSubmit")) == [WebhookEvent("other", "", account="acme")]
    no_data = json.dumps({"event": "shares.formSubmit"}).encode()
    assert parse(no_data) == [WebhookEvent("other", "")]


# ----------------------------------------------------------------------- parse: bad
@pytest.mark.parametrize("body", [
    b"", b"not json", b"\xff\xfe{}", b"[]", b'"text"', b"null", b"{}",
    b"[" * 5000 + b"]" * 5000,
    json.dumps({"operation": "Upload"}).encode(),                      # no path
    json.dumps({"path": "/a"}).encode(),                               # neither kind
    json.dumps({"operation": 5, "path": "/a"}).encode(),
    json.dumps({"operation": "Upload", "path": 7}).encode(),
    json.dumps({"operation": "Upload", "path": None}).encode(),
    json.dumps({"operation": "Upload", "path": ["/a"]}).encode(),
    json.dumps({"operation": "Upload", "path": "/a\u0000b"}).encode(),
    json.dumps({"operation": "Move", "path": "/a", "sourcepath": {"x": 1}}).encode(),
    json.dumps({"operation": "Move", "path": "/a", "sourcepath": "/b\u0000"}).encode(),
    json.dumps({"operation": "Upload", "path": "/a/../../etc/passwd"}).encode(),
    json.dumps({"operation": "Upload", "path": "/a", "accountname": 3}).encode(),
    json.dumps({"event": None}).encode(),
    json.dumps({"event": "resources.upload", "eventData": []}).encode(),
    json.dumps({"event": "resources.upload", "eventData": {"resources": {}}}).encode(),
    json.dumps({"event": "resources.upload", "eventData": {"resources": []}}).encode(),
    json.dumps({"event": "resources.upload"}).encode(),
    json.dumps({"event": "resources.upload", "eventData": {"resources": ["/a"]}}).encode(),
    json.dumps({"event": "resources.upload", "eventData": {"resources": [{"id": 1}]}}).encode(),
    json.dumps({"event": "resources.delete",
                "eventData": {"resources": [{"path": "/ok"}, {"path": None}]}}).encode(),
    json.dumps({"event": "resources.move",
                "eventData": {"resources": [{"path": "/a", "sourcePath": 1}]}}).encode(),
])
def test_parse_rejects_bad_payloads(body):
    with pytest.raises(WebhookPayloadError):
        parse(body)
    assert issubclass(WebhookPayloadError, ValueError)


def test_constructor_refuses_empty_token_and_relative_path():
    with pytest.raises(ValueError):
        WebhookServer("127.0.0.1", 0, "", lambda events: None, push=FORMAT)
    with pytest.raises(ValueError):
        WebhookServer("127.0.0.1", 0, TOKEN, lambda events: None, push=FORMAT, path="hook")
