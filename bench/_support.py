"""What every benchmark needs: a throwaway migrated database and timed manage.py children."""

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def manage(env: dict, *args: str, python: tuple[str, ...] = ()) -> tuple[float, int, str]:
    """Run manage.py in a child; return (seconds, that child's peak RSS in bytes, output)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as output:
        child = subprocess.Popen(
            [sys.executable, *python, str(ROOT / "manage.py"), *args],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        output.seek(0)
        text = output.read().strip()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{text}")
    return seconds, usage.ru_maxrss * 1024, text


@contextmanager
def throwaway_database(url: str, **settings: str):
    """Create the database of `url`, migrate it, yield the environment for manage.py
    children (plus `settings`), and drop the database afterwards whatever happened."""
    name = urlparse(url).path.lstrip("/")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "1",
        "KAM_NO_DOTENV": "1",
        "CELERY_BROKER_URL": "",
        **settings,
    }
    try:
        manage(env, "migrate", "--noinput", "-v0")
        yield env
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def gunicorn_running(argv: list, *, env: dict, log_path: Path, ready, error_marks=("Traceback",)):
    """Start `python -m gunicorn …argv`, wait (60 s at most) until `ready()` is true, yield the
    process; then stop it and show the end of its log if it holds one of `error_marks`."""
    import signal

    log = open(log_path, "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *argv],
        cwd=ROOT,  # where gunicorn.conf.py is, as in the Dockerfile's WORKDIR
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if ready():
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                sys.exit(f"gunicorn did not start:\n{log.read()[-3000:]}")
            time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.seek(0)
        text = log.read()
        log.close()
        if any(mark in text for mark in error_marks):
            print(f"\ngunicorn's log has errors; its end:\n{text[-3000:]}")


def child_env(url: str) -> dict:
    """The environment of manage.py children, as throwaway_database gives it."""
    return {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "KAM_NO_DOTENV": "1",
            "CELERY_BROKER_URL": ""}  # fmt: skip


@contextmanager
def database(args):
    """A fresh migrated database, dropped afterwards (throwaway_database) unless --keep;
    with --reuse the kept one, as it is."""
    url = args.database_url
    name = urlparse(url).path.lstrip("/")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    if args.reuse:
        with psycopg.connect(admin_url) as admin:
            if not admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone():
                sys.exit(f"--reuse: no database {name}; run once with --keep first")
        env = child_env(url)
        manage(env, "migrate", "--noinput", "-v0")  # the code may have moved on since
        yield env
    elif args.keep:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        env = child_env(url)
        manage(env, "migrate", "--noinput", "-v0")
        yield env
        print(f"\nkept the database {name}: measure again with --reuse")
    else:
        with throwaway_database(url) as env:
            yield env
