"""Stopping a drain between rows: leases on claimed rows not yet started are given back at once."""
from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.orm import sessionmaker

log = logging.getLogger(__name__)


def release_unstarted(session_factory: sessionmaker, model, ids: list[int], owner: str) -> int:
    """Clear this worker's lease on rows it claimed but will not start (shutdown), so the next worker takes them without waiting for expiry."""
    if not ids:
        return 0
    with session_factory.begin() as session:
        released = session.execute(
            update(model).where(model.id.in_(ids), model.lease_owner == owner).values(lease_owner=None, lease_until=None)
        ).rowcount
    log.info("stopping: released %d claimed %s rows not started", released, model.__tablename__)
    return released
