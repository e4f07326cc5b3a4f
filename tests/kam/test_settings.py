"""Settings come from the environment; unsafe combinations refuse to start."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with exactly `env` (plus PATH), no .env file."""
    code = (
        "import os, json; os.chdir('/');"
        "import kam.settings as s;"
        "print(json.dumps({'debug': s.DEBUG, 'db': s.DATABASES['default']['ENGINE'],"
        " 'eager': s.CELERY_TASK_ALWAYS_EAGER, 'tz': s.TIME_ZONE, 'hosts': s.ALLOWED_HOSTS,"
        " 'languages': [c for c, _ in s.LANGUAGES]}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "KAM_NO_DOTENV": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_secret_key_is_required_when_debug_is_off():
    result = load_settings(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_development_defaults_need_no_server():
    import json

    result = load_settings(DEBUG="1")
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["db"] == "django.db.backends.sqlite3"
    assert loaded["eager"] is True  # no broker: tasks run in-process
    assert loaded["tz"] == "Asia/Shanghai"
    assert loaded["languages"] == ["zh-hans", "en"]


def test_production_values_come_from_the_environment():
    import json

    result = load_settings(
        DEBUG="0",
        SECRET_KEY="x" * 60,
        ALLOWED_HOSTS="kam.example.com, www.kam.example.com",
        DATABASE_URL="postgres://kam:pw@db:5432/kam",
        CELERY_BROKER_URL="redis://redis:6379/0",
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["db"] == "django.db.backends.postgresql"
    assert loaded["eager"] is False
    assert loaded["hosts"] == ["kam.example.com", "www.kam.example.com"]


def test_a_malformed_boolean_names_the_variable():
    result = load_settings(DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe'" in result.stderr


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 20 + "A7#pQ9$zL2@wX5!mN8&rT4^vB1*cY6" + "q" * 20,
    "ALLOWED_HOSTS": "kam.example.com",
}


def manage(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "KAM_NO_DOTENV": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_the_deploy_check_passes_with_production_values_and_nothing_silenced():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 silenced" in result.stdout + result.stderr


def test_the_deploy_check_fails_when_https_is_turned_off():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, SESSION_COOKIE_SECURE="0"
    )
    assert result.returncode != 0
    assert "security.W012" in result.stdout + result.stderr


def test_gunicorn_workers_freeze_what_they_loaded():
    """gunicorn reads ./gunicorn.conf.py from the project root (the Dockerfile's WORKDIR): a
    worker that has loaded Django takes it out of the collector's sight."""
    config = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
    namespace: dict = {}
    exec(compile(config.read_text(), str(config), "exec"), namespace)
    import gc

    before = gc.get_freeze_count()
    try:
        namespace["post_worker_init"](worker=None)
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
