"""Settings for homepage, read from the environment (see README, "Configuration")."""

import contextlib
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from homepage.envfile import load_env_file

BASE_DIR = Path(__file__).resolve().parent.parent

# mod_wsgi cannot pass SetEnv values to os.environ, so every entry point reads this file.
load_env_file(os.environ.get("HOMEPAGE_ENV_FILE", BASE_DIR / ".env"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment or in the .env file "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for a local development run."
        )
    SECRET_KEY = "django-insecure-local-development-only"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.syndication",
    "axes",
    "taggit",
    "homepage",  # the SQLite file guard's signal receiver (homepage/apps.py)
    "blog",
]

MIDDLEWARE = [
    # First, so it sees the final response: writes public pages as files Apache serves
    # (docs/caching.md).
    "blog.middleware.PageCacheMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Mine run inside the header-setting middleware above, so their pages get the headers.
    "homepage.errors.MalformedRequestMiddleware",
    # Inside the page cache: cached pages are still served while the SQLite file is missing.
    "homepage.sqlite_guard.DatabaseFileGuardMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "homepage.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "blog.context_processors.site",
            ],
        },
    },
]

WSGI_APPLICATION = "homepage.wsgi.application"

# Data: the SQLite file (and its -wal/-shm companions) live here; the server user must
# be able to write the directory, not only the file.
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data"))
SQLITE_PATH = Path(os.environ.get("SQLITE_PATH", DATA_DIR / "blog.sqlite3"))

CONN_MAX_AGE = env_int("CONN_MAX_AGE", 600)

if os.environ.get("DATABASE_URL"):
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ["DATABASE_URL"],
            conn_max_age=CONN_MAX_AGE,
            conn_health_checks=True,
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        options = DATABASES["default"].setdefault("OPTIONS", {})
        # While the server is down, a request fails in seconds instead of hanging.
        options.setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
        if pool_size := env_int("DATABASE_POOL_SIZE", 0):
            # psycopg's pool instead of one persistent connection per thread (docs/postgresql.md).
            # Django refuses CONN_MAX_AGE with a pool; the pool checks each connection it
            # lends (CONN_HEALTH_CHECKS); a thread waits DATABASE_POOL_TIMEOUT s at most.
            DATABASES["default"]["CONN_MAX_AGE"] = 0
            timeout = env_int("DATABASE_POOL_TIMEOUT", 10)
            options["pool"] = {
                "min_size": 1,
                "max_size": pool_size,
                "timeout": timeout,
                # The pool retries a lost connection 1, 2, 4... s apart for reconnect_timeout
                # (5 minutes by default), so after an outage the site kept answering 503 for
                # as long as the last wait. Given up after 1 s instead, the next request that
                # needs a connection asks for one at once.
                "reconnect_timeout": 1,
            }
else:
    # A clean checkout has no data directory yet; migrate must be able to create the file.
    with contextlib.suppress(OSError):
        SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "CONN_MAX_AGE": CONN_MAX_AGE,
            "CONN_HEALTH_CHECKS": True,
        }
    }

# SQLite under a threaded server, however it is named (SQLITE_PATH or DATABASE_URL=sqlite:///);
# homepage/checks.py warns when a SQLite database lacks these.
SQLITE_OPTIONS = {
    # Writers take the lock at BEGIN, so a busy database makes them wait
    # (up to "timeout" seconds) instead of failing mid-transaction.
    "transaction_mode": "IMMEDIATE",
    "timeout": env_int("SQLITE_TIMEOUT", 20),
    # WAL lets readers run while one writer commits. No mmap_size: with
    # SQLite 3.40's WAL race it can turn a crash into lasting corruption.
    # 128 KiB of pages per connection, not SQLite's 2 MiB: a daemon has a connection per
    # thread, each drops its pages whenever another commits, and bigger caches filled for
    # minutes as comments grew the database (2 x 16 daemons, mixed load from 15 s to 180 s:
    # +23 MB with 512 KiB, +7 MB and flat from 120 s with 128 KiB, at the same req/s).
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-128;",
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = SQLITE_OPTIONS | DATABASES["default"].get("OPTIONS", {})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Keeps the search index, which the database fills itself, out of dumps (blog/routers.py).
DATABASE_ROUTERS = ["blog.routers.SearchIndexRouter"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# Uploaded images and their renditions; Apache serves them (scripts/serve, deploy/).
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "/media/"

# One cache that every process of the site sees: the page cache (blog/cache.py) and the
# comment rate limit must be shared. Redis with REDIS_URL (several hosts), else files under
# DATA_DIR (every process of one host; needs no server).
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "homepage")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            # A stalled Redis must not hold request threads for long.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "homepage.filecache.FileBasedCache",
            "LOCATION": Path(os.environ.get("CACHE_DIR", DATA_DIR / "cache")),
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {"MAX_ENTRIES": env_int("CACHE_MAX_ENTRIES", 5000)},
        }
    }
# Rendered pieces of pages (an entry's summary in a list), per process, keyed by the content
# version and what else they show (blog/memo.py: fragments()).
CACHES["fragments"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "fragments",
    "OPTIONS": {"MAX_ENTRIES": 3000},
}
# Public pages as files that Apache serves (blog/cache.py, docs/caching.md). Writes never
# wait for the age: they start a new generation of files. 0 turns the page files off.
BLOG_PAGE_CACHE_SECONDS = env_int("BLOG_PAGE_CACHE_SECONDS", 3600)
BLOG_PAGES_DIR = Path(os.environ.get("BLOG_PAGES_DIR", DATA_DIR / "pages"))
# s-maxage: how long a shared cache (a CDN that the site purges on writes) may keep a page.
BLOG_SHARED_CACHE_SECONDS = env_int("BLOG_SHARED_CACHE_SECONDS", 0)

ADMIN_URL = os.environ.get("ADMIN_URL", "admin/").strip("/") + "/"

# Django's mail settings; the console backend prints mails to the server log.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
ADMINS = [
    tuple(item.split(":", 1)) if ":" in item else (item, item) for item in env_list("ADMINS", [])
]
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", "root@localhost")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", SERVER_EMAIL)

# Blog behaviour.
BLOG_TITLE = os.environ.get("BLOG_TITLE", "homepage")
BLOG_DESCRIPTION = os.environ.get("BLOG_DESCRIPTION", "Notes and essays.")
BLOG_AUTHOR = os.environ.get("BLOG_AUTHOR", BLOG_TITLE)  # Atom feeds must name an author
BLOG_COMMENTS_CLOSE_AFTER_DAYS = env_int("BLOG_COMMENTS_CLOSE_AFTER_DAYS", 0)  # 0: never
# First comments per page of an entry's conversation, each with its replies (WordPress: 50).
BLOG_COMMENTS_PER_PAGE = max(1, env_int("BLOG_COMMENTS_PER_PAGE", 50))
BLOG_COMMENTS_MODERATED = env_bool("BLOG_COMMENTS_MODERATED")
BLOG_COMMENTS_NOTIFY_ADMINS = env_bool("BLOG_COMMENTS_NOTIFY_ADMINS")
BLOG_COMMENT_MAX_LINKS = env_int("BLOG_COMMENT_MAX_LINKS", 2)
BLOG_COMMENT_RATE = env_int("BLOG_COMMENT_RATE", 5)  # comments per client per window
BLOG_COMMENT_RATE_WINDOW = env_int("BLOG_COMMENT_RATE_WINDOW", 60)  # seconds
# Under mod_wsgi-express's own request limit (10 MiB), so an author gets our message.
BLOG_IMAGE_MAX_BYTES = env_int("BLOG_IMAGE_MAX_BYTES", 8 * 1024 * 1024)
BLOG_IMAGE_MAX_PIXELS = env_int("BLOG_IMAGE_MAX_PIXELS", 40_000_000)
BLOG_PREVIEW_MAX_CHARS = env_int("BLOG_PREVIEW_MAX_CHARS", 200_000)

# With DEBUG off and no LOGGING, Django's 500s would leave nothing in Apache's
# error log; send errors to stderr, which mod_wsgi writes there.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "{levelname} {name} {message}", "style": "{"},
        "one_line": {
            "()": "homepage.errors.ClientErrorFormatter",
            "format": "{levelname} {name} {message}",
            "style": "{",
        },
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "plain",
        },
        "stderr_one_line": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "one_line",
        },
        "mail_admins": {
            "level": "ERROR",
            "class": "django.utils.log.AdminEmailHandler",
        },
    },
    "loggers": {
        "django.request": {
            "handlers": ["stderr", "mail_admins"],
            "level": "ERROR",
            "propagate": False,
        },
        "django.security": {
            "handlers": ["stderr_one_line"],
            "level": "WARNING",
            "propagate": False,
        },
        "blog": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "homepage": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "axes": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
}

# Security. HTTPS=0 declares a plain-HTTP site (a local run on 127.0.0.1): no SSL
# redirect, no secure-only cookies, no HSTS. Everywhere else HTTPS is the default.
HTTPS = env_bool("HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
# The site's address in mails (links to replies, unsubscribe links), which have no request.
BLOG_SITE_URL = os.environ.get(
    "BLOG_SITE_URL",
    f"{'https' if HTTPS else 'http'}://{ALLOWED_HOSTS[0].lstrip('.*') or 'localhost'}",
)
# Health probes ask over plain HTTP on the machine itself; a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
# Apache (or a proxy in front of it) says the original request was HTTPS with this header.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Content-Security-Policy (django-csp; Django 5.2 has none of its own): scripts and styles only
# from this site, so templates carry no inline <script> or style="". Entry bodies may show
# images from other https sites (blog.markup allows <img src="https://...">).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "https:", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "manifest-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# Larger bodies and more fields are refused with a 400 before any view runs. A comment is
# 500 characters; the largest honest post is an entry saved in the admin.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 512 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

# Admin log-in throttling (django-axes): after AXES_FAILURE_LIMIT failed log-ins from one
# client address, that address is refused for AXES_COOLOFF_MINUTES, even with the right
# password. Attempts are kept in the database, shared by every server process. Behind a proxy,
# Apache must set REMOTE_ADDR to the client (mod_remoteip), or every reader shares one address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "lockout.html"
AXES_VERBOSE = False  # no banner at start-up; failures and lock-outs still log as warnings
AXES_USERNAME_CALLABLE = "homepage.axes_username.recorded_username"  # fits its column
