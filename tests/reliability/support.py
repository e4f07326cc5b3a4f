"""Real processes for the reliability tests: gunicorn, a private PostgreSQL instance, and
connections that watch the test database from the side.

The Celery worker (`Worker`), the bulk book and the test database's URL come from
tests/tiers/test_worker.py, which started real workers first; conftest.py lends its
fixtures to this folder.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

PROJECT_DIR = Path(settings.BASE_DIR)
VENV_BIN = Path(sys.executable).parent


def postgres_only(why: str):
    """Skip on SQLite, saying why the test needs PostgreSQL."""
    return pytest.mark.skipif(
        connection.vendor != "postgresql", reason=f"needs PostgreSQL: {why}; set DATABASE_URL"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(application_name: str, *, autocommit: bool = True, **overrides):
    """A psycopg connection to the test database, named in pg_stat_activity."""
    import psycopg

    params = connection.get_connection_params()
    return psycopg.connect(
        dbname=overrides.get("dbname", params["dbname"]),
        host=overrides.get("host", params.get("host")),
        port=overrides.get("port", params.get("port")),
        user=overrides.get("user", params.get("user")),
        password=params.get("password"),
        autocommit=autocommit,
        application_name=application_name,
    )


def production_env(**overrides: str) -> dict:
    """The environment a production process gets (DEBUG off, a key, hosts), over plain HTTP
    on loopback: no HTTPS redirect, cookies allowed without TLS. The .env file is not read."""
    return {
        **os.environ,
        "KAM_NO_DOTENV": "1",
        "DJANGO_SETTINGS_MODULE": "kam.settings",
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "0",
        "SECRET_KEY": "kam-reliability-test-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "CELERY_BROKER_URL": "",
        **overrides,
    }


def children_of(pid: int) -> set[int]:
    """Direct child processes of `pid`, from /proc."""
    found = set()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may hold spaces, so split after its ")".
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.add(int(stat.split("/")[2]))
    return found


def http(method: str, url: str, *, body: bytes | None = None, headers=None, timeout=10):
    """(status, body) or (None, error name) when no HTTP answer came back."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return None, type(reason).__name__.encode()


class Gunicorn:
    """`gunicorn kam.wsgi:application` (the compose web service's command) in its own
    process group, on a loopback port."""

    def __init__(self, env: dict, log_dir: Path, *, workers: int = 2):
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"gunicorn-{self.port}.log"
        self.workers = workers
        self.process: subprocess.Popen | None = None

    def start(self, *, seconds: float = 60) -> "Gunicorn":
        command = [
            str(VENV_BIN / "gunicorn"), "kam.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
            "--timeout", "60", "--access-logfile", "-",
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            status, _ = http("GET", f"{self.base}/healthz/", timeout=5)
            if status == 200 and len(self.worker_pids()) == self.workers:
                return self
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited at start:\n{self.tail()}")
            time.sleep(0.2)
        pytest.fail(f"gunicorn did not answer /healthz/ within {seconds:.0f} s:\n{self.tail()}")

    def worker_pids(self) -> set[int]:
        return children_of(self.process.pid) if self.process else set()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def postgres_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    found = []
    for path in glob.glob("/usr/lib/postgresql/*/bin"):
        version = Path(path).parent.name
        if (Path(path) / "initdb").exists() and (Path(path) / "pg_ctl").exists():
            with contextlib.suppress(ValueError):
                found.append((float(version), Path(path)))
    return max(found)[1] if found else None


def private_postgres_unavailable() -> str | None:
    """Why a private PostgreSQL instance cannot be started here, or None."""
    if postgres_bin_dir() is None:
        return "no initdb/pg_ctl under /usr/lib/postgresql/*/bin (the server package)"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root, and no runuser to run initdb/pg_ctl as postgres"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres user to own the instance"
    return None


class PrivatePostgres:
    """A PostgreSQL instance of the test's own (initdb into a temporary folder, trust auth,
    loopback port, socket in that folder), so it can be stopped and started without
    touching the shared cluster. As root, initdb and pg_ctl run as the postgres user."""

    def __init__(self):
        self.bin = postgres_bin_dir()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kam-private-pg-", dir="/tmp"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self._owner = None
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam("postgres")
            self._owner = (entry.pw_uid, entry.pw_gid)
            os.chown(self.dir, *self._owner)

    def _run(self, *args: str, timeout: float = 120) -> str:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._owner is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, cwd=self.dir, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            pytest.fail(
                f"{' '.join(args[:2])} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
                f"\n--- server log\n{self.log_tail()}"
            )
        return done.stdout

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def init(self) -> "PrivatePostgres":
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log_path), "-w",
            "-t", "60", "-o", options,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5)

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            command = [str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate"]
            if self._owner is not None:
                command = ["runuser", "-u", "postgres", "--", *command]
            subprocess.run(command, cwd=self.dir, capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
