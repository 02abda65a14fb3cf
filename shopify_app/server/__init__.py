"""Production serving: gunicorn with the embedded scheduler in one worker, logging, error reporting, its hooks."""
