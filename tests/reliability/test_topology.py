"""The production topology (README "Production"): docker-compose.yml read as data, and
`bin/up-local` (`make up-local`) run for real: the compose services' commands as
processes against this machine's PostgreSQL and Redis, beat firing a nightly run that
gunicorn then serves."""

import shlex
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
import yaml
from django.db import connection

from tests.reliability.support import PROJECT_DIR, postgres_only

COMPOSE = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
APP_SERVICES = ("web", "worker", "beat")


def _command(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _depends_on(service: str) -> dict:
    depends = SERVICES[service].get("depends_on", {})
    if isinstance(depends, list):  # the short form means "started", not "healthy"
        return {name: {"condition": "service_started"} for name in depends}
    return depends


def test_compose_runs_the_five_services_of_the_production_topology():
    assert set(SERVICES) == {"postgres", "redis", "web", "worker", "beat"}
    assert SERVICES["postgres"]["image"].startswith("postgres:15")
    assert SERVICES["redis"]["image"].startswith("redis:")


def test_web_worker_and_beat_are_one_image_built_from_the_dockerfile_with_env_file():
    builds = {name: SERVICES[name].get("build") for name in APP_SERVICES}
    images = {name: SERVICES[name].get("image") for name in APP_SERVICES}
    assert len(set(map(repr, builds.values()))) == 1, builds
    assert len(set(images.values())) == 1, images
    build = builds["web"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (PROJECT_DIR / context / dockerfile).is_file()
    for name in APP_SERVICES:
        assert ".env" in _as_list(SERVICES[name].get("env_file")), name
        environment = SERVICES[name]["environment"]
        assert "@postgres:5432/" in environment["DATABASE_URL"], name
        assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379/"), name
    dockerfile_text = (PROJECT_DIR / context / dockerfile).read_text(encoding="utf-8")
    assert "collectstatic" in dockerfile_text  # whitenoise serves the collected files


def test_postgres_redis_and_web_have_health_checks_and_postgres_keeps_a_named_volume():
    for name in ("postgres", "redis", "web"):
        assert SERVICES[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert "pg_isready" in " ".join(_as_list(SERVICES["postgres"]["healthcheck"]["test"]))
    assert "ping" in _as_list(SERVICES["redis"]["healthcheck"]["test"])
    assert "/healthz/" in " ".join(_as_list(SERVICES["web"]["healthcheck"]["test"]))

    mounts = [m.split(":") for m in SERVICES["postgres"]["volumes"] if isinstance(m, str)]
    named = {source for source, target, *_ in mounts if target == "/var/lib/postgresql/data"}
    assert named and named <= set(COMPOSE.get("volumes") or {}), (
        f"PostgreSQL's data directory is not on a named volume: {mounts}"
    )


def test_web_waits_for_healthy_postgres_and_redis_and_migrates_before_gunicorn():
    depends = _depends_on("web")
    for name in ("postgres", "redis"):
        assert depends.get(name, {}).get("condition") == "service_healthy", depends
    command = _command("web")
    assert command[:2] == ["sh", "-c"], command
    steps = [shlex.split(step) for step in command[2].split("&&")]
    assert steps[0][:3] == ["python", "manage.py", "migrate"]
    assert steps[-1][:2] == ["gunicorn", "kam.wsgi:application"]


@pytest.mark.parametrize("service", ["worker", "beat"])
def test_worker_and_beat_run_celery_for_the_kam_app(service):
    command = _command(service)
    assert command[0] == "celery"
    assert command[command.index("-A") + 1] == "kam"
    assert service in command[1:]
    # Migrations are web's job: worker and beat start after web is healthy.
    assert _depends_on(service).get("web", {}).get("condition") == "service_healthy"


def _redis_answers() -> str | None:
    import redis

    try:
        client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


@postgres_only(
    "bin/up-local creates, migrates and drops its own database on the server of DATABASE_URL"
)
def test_make_up_local_runs_the_topology_and_serves_a_nightly_run_fired_by_beat():
    problem = _redis_answers()
    if problem:
        pytest.skip(f"up-local needs Redis on 127.0.0.1:6379 ({problem})")
    s = connection.settings_dict
    auth = quote(s.get("USER") or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    port = f":{s['PORT']}" if s.get("PORT") else ""
    server = f"postgres://{auth}@{quote(s.get('HOST') or '', safe='')}{port}/postgres"

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "bin" / "up-local"), "--pg", server],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(f"\n{done.stdout}{done.stderr}\nbin/up-local took {time.monotonic() - started:.0f} s")
    assert done.returncode == 0, f"bin/up-local failed:\n{done.stdout[-6000:]}\n{done.stderr}"
    out = done.stdout
    assert "beat: sent the nightly task through Redis" in out
    assert "up-local summary" in out and "/api/runs/ and /dashboard/ show run" in out
    assert "dropped" in out and out.rstrip().endswith("passed")
