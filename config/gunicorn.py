"""gunicorn settings for the web process (threads, so `?wait=` requests don't block others)."""

import os

bind = os.environ.get("WEB_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = 120
accesslog = None
# gunicorn's control socket defaults to one path per user: several servers (tests, make run)
# on one machine would fight over it, and nothing here uses it.
control_socket_disable = True
