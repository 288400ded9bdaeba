"""Entry module for `celery -A make_celery` (worker, beat, Flower), as in Flask's Celery example.

Importing it builds the Flask app in its worker role; nothing else imports it.
"""

from web import create_app

flask_app = create_app({"PROCESS_ROLE": "worker"})
celery_app = flask_app.extensions["celery"]
