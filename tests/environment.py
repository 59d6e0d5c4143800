"""Loaded by pytest before Django (see pyproject.toml): settings for the test run."""

import os

os.environ.setdefault("SECRET_KEY", "insecure-key-for-the-test-run-only")
# The developer's .env (a local SECRET_KEY, a production DATABASE_URL) must not leak in.
os.environ.setdefault("HOMEPAGE_ENV_FILE", os.devnull)
os.environ.setdefault("HTTPS", "0")  # the test client speaks plain HTTP
