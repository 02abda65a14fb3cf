"""A gunicorn config for tests/metrics/test_gunicorn_metrics.py: the two multiprocess hooks of shopify_app.metrics, as the production server wires them."""
from shopify_app.metrics.multiprocess import mark_process_dead, prepare_multiprocess_dir

workers = 2
worker_class = "sync"
control_socket_disable = True  # one fixed path per user: parallel test runs would fight over it


def on_starting(server):
    prepare_multiprocess_dir()


def child_exit(server, worker):
    mark_process_dead(worker.pid)
