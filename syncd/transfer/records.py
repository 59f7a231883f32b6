"""Base rows written or dropped without a transfer (both sides already agree)."""

from __future__ import annotations

from syncd import model
from syncd.model import ForgetBase, RecordBase
from syncd.transfer.core import WorkerCore


class Records(WorkerCore):
    """Handlers of ``RecordBase`` and ``ForgetBase``."""

    def _record_base(self, a: RecordBase) -> None:
        self.index.put_base(self.mirror, a.base)

    def _forget_base(self, a: ForgetBase) -> None:
        self.index.drop_base(self.mirror, model.key(a.path))
