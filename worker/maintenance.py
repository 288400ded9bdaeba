"""Periodic maintenance tasks run by Celery beat: retention cleanup and stuck-work requeue."""
