"""A scheduled job's run, claimed in the database so two schedulers never run the same slot."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class JobRun(Base):
    """One run of a periodic job for one time slot (unique: the first process to insert it runs it)."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "slot", name="uq_job_runs_job_slot"),
        Index("ix_job_runs_started", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job: Mapped[str] = mapped_column(String(200))
    slot: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the start of the interval this run covers
    owner: Mapped[str] = mapped_column(String(100))  # host:pid of the process that claimed it
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
