"""How often the daemon may look for remote changes: a pure function of the budget.

Every request is a paid transaction, account-wide, over a rolling 24 h (docs/exavault-api.md §4).
A poll costs one request when the server has an activity feed (one call covers
every mirror), and a full listing of every mirror, ``ceil((rows + 1) / 100)``
requests each, when it has not (accounts migrated to Files.com). The daily
true-up listing of each mirror is paid for as well.

Polling may spend what is left of the daily limit after the ``reserve`` (never
spent) and the ``transfer_share`` kept for uploads, downloads and moves; the
interval is the shortest one that keeps the projected day within that, and never
shorter than the configured ``poll_interval``. With webhook pushes there is no
periodic poll at all: a push triggers one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DAY = 86400.0
PAGE = 100
MAX_INTERVAL = DAY  # polling less than once a day would be no sync at all


def listing_cost(rows: int) -> int:
    """Requests for one full listing of a folder holding ``rows`` items."""
    return max(1, math.ceil((rows + 1) / PAGE))


@dataclass(frozen=True)
class PollChoice:
    interval: float | None  # seconds between polls; None: no periodic poll (webhooks)
    reason: str             # one line for the log and `syncd status`
    per_poll: int = 0       # requests one poll costs
    per_day: int = 0        # requests the chosen interval projects for a day of polls
    allowance: int | None = None  # requests a day polling may spend (None: unknown)


def _fmt(seconds: float) -> str:
    seconds = round(seconds)
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60}m"
    if seconds > 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    if seconds > 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def choose_poll_interval(*, desired: float, limit: int | None, reserve: int,
                         transfer_share: float, feed: bool | None, rows: Sequence[int],
                         full_scan_intervals: Sequence[float], webhook: bool = False
                         ) -> PollChoice:
    """The poll interval for one account.

    ``desired``: the shortest poll_interval of its mirrors; ``limit``: the daily
    transaction allowance (``None`` before the first answer told it); ``reserve``:
    transactions never spent; ``feed``: whether the activity feed works (``None``:
    not known yet, priced as a listing); ``rows``: remote items per mirror;
    ``full_scan_intervals``: each mirror's true-up period."""
    listings = [listing_cost(n) for n in rows]
    trueup = sum(cost * DAY / max(iv, 60.0) for cost, iv in zip(listings, full_scan_intervals))
    per_poll = 1 if feed else max(1, sum(listings))
    how = ("one activity-feed request for all mirrors" if feed else
           f"a full listing of {sum(rows)} remote items ({per_poll} requests)")
    if webhook:
        return PollChoice(None, "webhook push: no periodic polling (a push triggers one "
                                f"poll: {how}); true-up listings only", per_poll, 0, None)
    if limit is None:
        return PollChoice(desired, f"polling every {_fmt(desired)} (poll_interval; the daily "
                                   "limit is not known yet)", per_poll,
                          math.ceil(DAY / desired * per_poll), None)
    # (the epsilon keeps 10000 * (1 - 0.9) = 999.9999999999998 from flooring to 999)
    allowance = math.floor((limit - reserve) * (1.0 - transfer_share) - trueup + 1e-6)
    kept = f"the {reserve} reserve, " if reserve else ""
    share = (f"{allowance} of the {limit} daily transactions after {kept}"
             f"{transfer_share:.0%} kept for transfers and the daily true-up listings")
    if allowance < per_poll:
        per_day = math.ceil(DAY / MAX_INTERVAL * per_poll)
        return PollChoice(MAX_INTERVAL, f"polling once a day: each poll costs {how}, more than "
                                        f"the {max(allowance, 0)} transactions a day left for "
                                        "polling; raise account.budget or lower "
                                        "account.transfer_share", per_poll, per_day, allowance)
    floor = DAY * per_poll / allowance
    interval = float(max(desired, min(MAX_INTERVAL, math.ceil(floor))))
    per_day = math.ceil(DAY / interval * per_poll)
    if interval > desired:
        reason = (f"polling every {_fmt(interval)}, not {_fmt(desired)}: each poll costs {how}, "
                  f"so {per_day}/day, within {share}")
    else:
        reason = (f"polling every {_fmt(interval)} (poll_interval): each poll costs {how}, "
                  f"{per_day}/day, within {share}")
    return PollChoice(interval, reason, per_poll, per_day, allowance)
