"""Stopping twice (gunicorn's SIGTERM thread, then the worker's exit): the second stop waits for the first."""
from __future__ import annotations

import threading
from types import SimpleNamespace

from shopify_app.server.lifecycle import stop_background_work, stop_services


def test_the_services_close_only_after_a_stop_already_under_way_has_finished():
    # Found in a suite run: the SIGTERM thread had taken the scheduler and was stopping its pumps when the
    # worker's exit hook found no scheduler, closed the services and exited, pumps still running.
    release, taken, steps = threading.Event(), threading.Event(), []

    class SlowScheduler:
        def shutdown(self):
            taken.set()
            release.wait(10)
            steps.append("scheduler stopped")

    services = SimpleNamespace(scheduler=SlowScheduler(), close=lambda: steps.append("services closed"))
    first = threading.Thread(target=stop_background_work, args=(services,))
    first.start()
    assert taken.wait(10)
    second = threading.Thread(target=stop_services, args=(services,))
    second.start()
    second.join(timeout=0.5)
    assert second.is_alive() and steps == []  # the exit waits: nothing is closed under the stopping pumps
    release.set()
    first.join(10)
    second.join(10)
    assert steps == ["scheduler stopped", "services closed"]
