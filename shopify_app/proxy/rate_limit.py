"""Fixed-window attempt counters in the database: a limit that holds across web processes and restarts."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ..cases.models import RateCounter
from ..models import utcnow


def window_start(now: dt.datetime, window: dt.timedelta) -> dt.datetime:
    """The start of the fixed window `now` falls in."""
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.timezone.utc)


def count_attempt(session_factory, key: str, window: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Count one attempt for `key` in the current window (one short write transaction); returns the attempts so far."""
    start = window_start(now or utcnow(), window)
    where = (RateCounter.key == key[:255], RateCounter.window_start == start)
    with session_factory.begin() as session:
        # UPDATE first: nearly always the row exists once a client is anywhere near a limit.
        if not session.execute(update(RateCounter).where(*where).values(count=RateCounter.count + 1)).rowcount:
            try:
                with session.begin_nested():
                    session.add(RateCounter(key=key[:255], window_start=start, count=1))
            except IntegrityError:  # another process inserted it in between
                session.execute(update(RateCounter).where(*where).values(count=RateCounter.count + 1))
        return session.scalar(select(RateCounter.count).where(*where))


@dataclass(frozen=True)
class WindowLimit:
    """At most `attempts` per key in each fixed `window`."""

    attempts: int
    window: dt.timedelta

    def retry_after(self, session_factory, key: str, now: dt.datetime | None = None) -> int:
        """Count one attempt for `key`: 0 within the limit, else the whole seconds until the window ends (a Retry-After)."""
        now = now or utcnow()
        if count_attempt(session_factory, key, self.window, now) <= self.attempts:
            return 0
        return max(1, math.ceil((window_start(now, self.window) + self.window - now).total_seconds()))


def purge_counters(session, older_than: dt.timedelta = dt.timedelta(days=1), now: dt.datetime | None = None) -> int:
    """Delete windows long past (they only ever limited the minutes they covered)."""
    return session.execute(delete(RateCounter).where(RateCounter.window_start < (now or utcnow()) - older_than)).rowcount
