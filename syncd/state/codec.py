"""Actions as JSON, the way the persistent queue stores them."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from syncd.model import Action, BaseEntry, LocalEntry, RemoteEntry

_ACTION_TYPES: dict[str, type] = {cls.__name__: cls for cls in typing.get_args(Action)}
_ENTRY_TYPES: dict[str, type] = {cls.__name__: cls for cls in (LocalEntry, RemoteEntry, BaseEntry)}
_TYPES = {**_ACTION_TYPES, **_ENTRY_TYPES}


def _to_json(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = type(obj).__name__
        if _TYPES.get(name) is not type(obj):
            raise TypeError(f"cannot encode {type(obj).__qualname__} in an action")
        out: dict[str, Any] = {"type": name}
        for f in dataclasses.fields(obj):
            out[f.name] = _to_json(getattr(obj, f.name))
        return out
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot encode {type(obj).__qualname__} in an action")


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        tag = value.get("type")
        cls = _TYPES.get(tag) if isinstance(tag, str) else None
        if cls is None:
            raise ValueError(f"unknown type tag {tag!r} in stored action")
        kwargs = {k: _from_json(v) for k, v in value.items() if k != "type"}
        try:
            return cls(**kwargs)
        except TypeError as e:
            raise ValueError(f"stored {tag} does not match this syncd: {e}") from None
    return value


def encode_action(action: Action) -> str:
    """An action as JSON: ``{"type": "Upload", ...fields}``; nested entries are
    dicts tagged the same way. Strings survive byte-exactly (ASCII JSON escapes,
    so even lone surrogates round-trip)."""
    if type(action) not in _ACTION_TYPES.values():
        raise TypeError(f"not an action: {type(action).__qualname__}")
    return json.dumps(_to_json(action), separators=(",", ":"))


def decode_action(text: str) -> Action:
    """Inverse of ``encode_action``. Raises ``ValueError`` for text that is not an action."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"stored action is not JSON: {e}") from None
    if not isinstance(data, dict) or data.get("type") not in _ACTION_TYPES:
        raise ValueError(f"stored value is not an action: {text[:80]!r}")
    return _from_json(data)
