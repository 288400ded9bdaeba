"""`python -m scripts.migrate`: upgrade the configured database to the newest migration."""

from config import load_settings
from store.db import redact_url
from store.migrate import upgrade_to_head

if __name__ == "__main__":
    url = load_settings().database_url
    upgrade_to_head(url)
    print(f"database at head: {redact_url(url)}")
