"""gunicorn settings for the web process (threads, so `?wait=` requests don't block others)."""

import os

bind = os.environ.get("WEB_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = 120
accesslog = None
