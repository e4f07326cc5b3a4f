"""KAM settings: one module, driven by environment variables.

Every variable read here is listed in .env.example. A `.env` file in the project
folder is read first when present; real environment variables win over it.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def _read_dotenv(path: Path) -> None:
    """Load KEY=VALUE lines from `path` into os.environ without overriding what is set."""
    if not path.is_file():
        return
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ImproperlyConfigured(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


if not os.environ.get("KAM_NO_DOTENV"):
    _read_dotenv(BASE_DIR / ".env")


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: expected one of 1/0, true/false, yes/no, on/off")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected a whole number") from None


DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example).")
    # Development only: a fixed key is fine on a laptop and never used with DEBUG off.
    SECRET_KEY = "django-insecure-kam-development-only"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# HTTPS only in production (DEBUG off): each can be turned off by its variable, e.g. for a
# benchmark over plain HTTP on loopback. `manage.py check --deploy --fail-level WARNING`
# passes with these defaults (tests/kam/test_settings.py).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# The load balancer's health check speaks plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
# The header's includeSubDomains covers hosts under KAM's own name (kam.example.com's, not
# example.com's); "preload" only allows a submission to the browsers' list, which is a
# separate, deliberate step.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Content Security Policy (django-csp): the browser runs and applies only files KAM serves.
# No inline script or style, no eval, no plugins, no framing, forms post only to KAM. Charts
# read their figures from json_script elements, which are data and never run. A page that
# ever needs more widens its own header (csp_update on that view), never the site's; the
# admin and /api/docs/ need nothing more (templates/drf_spectacular/ moves Swagger's style).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF],
        "style-src": [CSP_SELF],
        "img-src": [CSP_SELF, "data:"],
        "font-src": [CSP_SELF],
        "connect-src": [CSP_SELF],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
        "form-action": [CSP_SELF],
    },
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "kam",
    "accounts",
    "tiers",
    "relationships",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Refuses an oversized body before reading it (413); see kam/middleware.py.
    "kam.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Deny by default: every view needs a signed-in user unless marked login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during sign-in into the 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kam.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kam.context_processors.kam",
            ],
        },
    },
]

WSGI_APPLICATION = "kam.wsgi.application"

# Default: an SQLite file in the project folder, so `make run` needs no server.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Persistent connections: a new backend per request pays connection setup and cold
        # catalog caches on every query (~50 ms on the dashboard, bench/pages.py).
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not env_bool(
    "KAM_PG_JIT", False
):
    # PostgreSQL's JIT compiles any query whose estimated cost passes 100,000: on the
    # dashboard that is compile time on every request (half of it, measured by
    # bench/pages.py) for queries that run in milliseconds. KAM_PG_JIT=1 keeps it on.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in lockout (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username
# from one address, that pair is refused (429) for AXES_COOLOFF_TIME. Keyed on the pair so
# one person's typos neither lock out a whole office behind one NAT address nor lock a user
# out from every address; a success clears the pair's count.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
# In minutes (axes itself would read a bare number as hours).
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_RESET_ON_SUCCESS = True
# Each refused try restarts the cool-off, so "try again in N minutes" holds from every refusal.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# Failures and lockouts are still logged; this only drops the banner on every manage.py run.
AXES_VERBOSE = False
# The client's address: REMOTE_ADDR, unless KAM_TRUST_X_FORWARDED_FOR=1 says a proxy in front
# sets X-Forwarded-For. Only then is the header read (a client could write anything in it),
# and only as the proxy leaves it: one address, the client it saw (proxy count 0; ipware is
# strict, so a chain a client padded falls back to REMOTE_ADDR, the proxy's own address).
KAM_TRUST_X_FORWARDED_FOR = env_bool("KAM_TRUST_X_FORWARDED_FOR", False)
if KAM_TRUST_X_FORWARDED_FOR:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_COUNT = 0
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out pair is refused before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Simplified Chinese first: most of our users work in it.
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Our number formats for zh-hans: money grouped by three with commas (kam/formats/).
FORMAT_MODULE_PATH = ["kam.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

KAM_CURRENCY = os.environ.get("KAM_CURRENCY", "CNY")

# Imports: size limits are checked before a file is parsed; the problem list is capped.
KAM_IMPORT_MAX_CSV_BYTES = env_int("KAM_IMPORT_MAX_CSV_BYTES", 200 * 1024 * 1024)
KAM_IMPORT_MAX_XLSX_BYTES = env_int("KAM_IMPORT_MAX_XLSX_BYTES", 50 * 1024 * 1024)
KAM_IMPORT_MAX_PROBLEMS = env_int("KAM_IMPORT_MAX_PROBLEMS", 1000)
# A CSV file of at least this many new sales lines (and at least as many as the table
# holds) is copied straight into the table, its indexes built again after
# (accounts/importing/bulk.py); readers of the table wait for that import to commit.
KAM_IMPORT_BULK_MIN_ROWS = env_int("KAM_IMPORT_BULK_MIN_ROWS", 100_000)
# Uploads bigger than this go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Any request but an import upload: at most this many bytes (413 before reading).
KAM_MAX_REQUEST_BYTES = env_int("KAM_MAX_REQUEST_BYTES", 10 * 1024 * 1024)

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# With DEBUG, whitenoise serves straight from the app folders: no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed files in production; plain ones with DEBUG (no collectstatic).
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Celery: with no broker configured, tasks run in-process (the embedded default).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 4 * 3600)
}

# The nightly contribution run (SPEC §3), on the beat schedule in TIME_ZONE.
KAM_NIGHTLY_HOUR = env_int("KAM_NIGHTLY_HOUR", 2)
KAM_NIGHTLY_MINUTE = env_int("KAM_NIGHTLY_MINUTE", 0)
# Hard limit of one run, in seconds; must stay below the visibility timeout.
KAM_RECOMPUTE_TIME_LIMIT = env_int("KAM_RECOMPUTE_TIME_LIMIT", 2 * 3600)
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= KAM_RECOMPUTE_TIME_LIMIT:
    raise ImproperlyConfigured(
        "KAM_RECOMPUTE_TIME_LIMIT must be below CELERY_VISIBILITY_TIMEOUT, or Redis would "
        "hand a run that is still going to a second worker."
    )
# The daily follow-up job (SPEC §4) runs after the nightly run, so cadence uses fresh tiers.
KAM_FOLLOWUPS_HOUR = env_int("KAM_FOLLOWUPS_HOUR", 5)
KAM_FOLLOWUPS_MINUTE = env_int("KAM_FOLLOWUPS_MINUTE", 30)
# How many days ahead a follow-up appears: before an account comes due, a birthday, a holiday.
KAM_CADENCE_LEAD_DAYS = env_int("KAM_CADENCE_LEAD_DAYS", 7)
KAM_BIRTHDAY_LEAD_DAYS = env_int("KAM_BIRTHDAY_LEAD_DAYS", 3)
KAM_HOLIDAY_LEAD_DAYS = env_int("KAM_HOLIDAY_LEAD_DAYS", 7)
CELERY_BEAT_SCHEDULE = {
    "recompute-contribution-nightly": {
        "task": "tiers.tasks.recompute_contribution_nightly",
        "schedule": crontab(hour=KAM_NIGHTLY_HOUR, minute=KAM_NIGHTLY_MINUTE),
    },
    "refresh-account-health-daily": {
        "task": "relationships.tasks.refresh_account_health_daily",
        "schedule": crontab(hour=KAM_FOLLOWUPS_HOUR, minute=max(KAM_FOLLOWUPS_MINUTE - 15, 0)),
    },
    "generate-follow-ups-daily": {
        "task": "relationships.tasks.generate_follow_ups_daily",
        "schedule": crontab(hour=KAM_FOLLOWUPS_HOUR, minute=KAM_FOLLOWUPS_MINUTE),
    },
}

# The REST API (/api/): deny by default; session (the browser) or token (integrations).
# Every view scopes its queryset through the same selectors as the screens.
REST_FRAMEWORK = {
    # Token first: its challenge makes a missing or bad token a 401 (the session has none).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "kam.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "kam.api.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
}
KAM_API_PAGE_SIZE = env_int("KAM_API_PAGE_SIZE", 50)
KAM_API_MAX_PAGE_SIZE = env_int("KAM_API_MAX_PAGE_SIZE", 500)
SPECTACULAR_SETTINGS = {
    "TITLE": "KAM API",
    "DESCRIPTION": (
        "Key account management: customers, the buying centre, visits, follow-ups, plans, "
        "contribution runs and tiers. Every answer is scoped to the caller (SPEC §1); "
        "objects outside the scope answer 404."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and Swagger UI are for signed-in people and tokens, like the rest of KAM.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge from validator.swagger.io: it would send our schema's address to a third party
    # (and the CSP blocks the image anyway).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for the A/B/C choices wherever they appear.
    "ENUM_NAME_OVERRIDES": {"TierEnum": "tiers.models.Tier"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
