"""The emulator store's tables, its row types, the sort keys of its listings and
the errors it raises (shared by store.py and store_mutations.py)."""

from __future__ import annotations

from collections import namedtuple

ROOT_ID = 1
COLUMNS = ("id", "parent_id", "path", "name", "type", "hash", "size", "file_count",
           "created_by", "created", "updated", "accessed", "uploaded")
Row = namedtuple("Row", COLUMNS)
ActivityRow = namedtuple("ActivityRow", ("id", "created", "operation", "file_name", "file_source",
                                         "username", "ip_address", "protocol", "session_id",
                                         "status", "bytes", "duration"))
# One committed change, as handed to a change listener (see Store.subscribe): the activity
# fields plus ``row``, the resource as it was right after the change (before it, for DELE).
Change = namedtuple("Change", ("operation", "path", "source", "username", "ip_address",
                               "created", "row"))
SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM resources"

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id INTEGER,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL DEFAULT 0,
    file_count INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL, updated INTEGER NOT NULL,
    accessed INTEGER NOT NULL, uploaded INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS resources_parent ON resources(parent_id, type, name);
CREATE TABLE IF NOT EXISTS activity(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created INTEGER NOT NULL, operation TEXT NOT NULL, file_name TEXT NOT NULL,
    file_source TEXT NOT NULL, username TEXT NOT NULL, ip_address TEXT NOT NULL,
    protocol TEXT NOT NULL, session_id TEXT NOT NULL, status TEXT NOT NULL,
    bytes INTEGER NOT NULL, duration INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS activity_created ON activity(created);
"""

# Sort keys accepted by the resource listing (API name -> column).
RESOURCE_SORT = {"name": "name", "size": "size", "type": "type", "createdAt": "created",
                 "updatedAt": "updated", "path": "path", "id": "id", "uploadDate": "uploaded",
                 "accessedAt": "accessed"}
ACTIVITY_SORT = {"date": "created", "created": "created", "ip": "ip_address",
                 "ipaddress": "ip_address", "username": "username", "file": "file_name",
                 "filename": "file_name", "filesource": "file_source", "source": "file_source",
                 "operation": "operation", "type": "operation", "duration": "duration",
                 "size": "bytes", "bytestransferred": "bytes", "protocol": "protocol",
                 "status": "status", "id": "id", "sessionid": "session_id"}



class StoreError(Exception):
    status = 400
    code = "ERROR_INVALID_PARAMETER"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotFound(StoreError):
    status = 404
    code = "ERROR_RESOURCE_NOT_FOUND"


class Invalid(StoreError):
    pass


class StoreClosed(StoreError):
    status = 503
    code = "ERROR_SERVICE_UNAVAILABLE"


def subtree_clause(path: str) -> tuple[str, tuple]:
    """WHERE fragment selecting everything strictly below folder ``path`` (uses the path index)."""
    if path == "/":
        return "id != ?", (ROOT_ID,)
    return "(path > ? AND path < ?)", (path + "/", path + "0")
