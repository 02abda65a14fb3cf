"""Scheduled job bookkeeping shared by every scheduler: one run per job and time slot across processes."""
