#!/usr/bin/env bash
# Fuzz the REST API with schemathesis, from its own OpenAPI schema, against a running server
# on PostgreSQL: every operation (reads and writes), once as a sales rep (rep1) and once as a
# KAM manager (manager). Fails on any server error (5xx) or any response that does not match
# the schema; prints how many cases were generated for each token and in all.
#
#   .ci/fuzz_api.sh            (or: make fuzz)
#
# It builds a throwaway database (kam_fuzz_<pid>: migrate, seed_demo, recompute_contribution,
# generate_follow_ups), makes a token for each user, starts gunicorn (kam.wsgi, 2 workers,
# DEBUG off as in production, plain HTTP on a free loopback port), waits for /healthz/ and runs
#   schemathesis run http://127.0.0.1:PORT/api/schema/ -H "Authorization: Token …"
# for each token. The server and the database are gone afterwards, whatever happened.
# Knobs (environment): FUZZ_MAX_EXAMPLES (cases per operation and phase, default 20),
# FUZZ_SEED (default 20261124), FUZZ_PG (server, default postgres://postgres@127.0.0.1:5432),
# FUZZ_KEEP_LOGS=1 leaves the gunicorn log and the schemathesis reports in ./test-artifacts/fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
py="$root/.venv/bin/python"
st="$root/.venv/bin/schemathesis"

max_examples=${FUZZ_MAX_EXAMPLES:-20}
seed=${FUZZ_SEED:-20261124}
pg=${FUZZ_PG:-postgres://postgres@127.0.0.1:5432}
db="kam_fuzz_$$"
work=$(mktemp -d)
server_pid=""

psql_admin() { "$py" - "$pg/postgres" "$1" <<'EOF'
import sys
import psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as admin:
    admin.execute(sys.argv[2])
EOF
}

cleanup() {
  local status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  psql_admin "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  if [ "${FUZZ_KEEP_LOGS:-0}" = 1 ]; then
    mkdir -p "$root/test-artifacts/fuzz"
    cp -r "$work"/. "$root/test-artifacts/fuzz/" 2>/dev/null || true
    echo "logs and reports: test-artifacts/fuzz/"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
echo "database $db"
psql_admin "CREATE DATABASE \"$db\""

# manage.py for the build: DEBUG on, because seed_demo refuses to run without it.
export KAM_NO_DOTENV=1 CELERY_BROKER_URL="" LOG_LEVEL=WARNING
export DATABASE_URL="$pg/$db"
manage() { DEBUG=1 "$py" manage.py "$@"; }
manage migrate --noinput -v0
manage seed_demo >/dev/null
manage recompute_contribution >/dev/null
manage generate_follow_ups >/dev/null
token() { manage drf_create_token "$1" | awk '{print $3}'; }
rep_token=$(token rep1)
manager_token=$(token manager)
echo "demo data and tokens ready in $(($(date +%s) - started)) s"

# The server as in production (DEBUG off), over plain HTTP on loopback.
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
DEBUG=0 SECRET_KEY="fuzz-$$-$RANDOM-$RANDOM-not-a-real-secret-key-0123456789abcdef" \
  ALLOWED_HOSTS=127.0.0.1 SECURE_SSL_REDIRECT=0 SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0 \
  SECURE_HSTS_SECONDS=0 \
  "$py" -m gunicorn kam.wsgi:application --bind "127.0.0.1:$port" --workers 2 --timeout 120 \
  >"$work/gunicorn.log" 2>&1 &
server_pid=$!
ready=0
for _ in $(seq 150); do
  if [ "$("$py" -c 'import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except Exception:
    print(0)' "$base/healthz/")" = 200 ]; then
    ready=1
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.2
done
if [ "$ready" != 1 ]; then
  echo "gunicorn did not answer /healthz/:"
  cat "$work/gunicorn.log"
  exit 1
fi
echo "gunicorn on $base"

# Every operation, every phase but the stateful one (examples, coverage, fuzzing), the given
# seed and a bound on the cases per operation.
status=0
total=0
summary=""
for who in rep manager; do
  if [ "$who" = rep ]; then tok=$rep_token; else tok=$manager_token; fi
  echo
  echo "=== schemathesis as $who"
  t0=$(date +%s)
  set +e
  # From the scratch folder: schemathesis keeps a crash cache in the current directory, and
  # no example database, so that every run starts from the seed alone.
  (cd "$work" && "$st" run "$base/api/schema/" \
    -H "Authorization: Token $tok" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$max_examples" --seed "$seed" --generation-database none \
    --workers 2 --request-timeout 60 --no-color \
    --report ndjson --report-ndjson-path "$work/$who.ndjson") \
    2>&1 | tee "$work/$who.log"
  rc=${PIPESTATUS[0]}
  set -e
  cases=$("$py" - "$work/$who.ndjson" <<'EOF'
import json, sys
count = 0
with open(sys.argv[1]) as f:
    for line in f:
        event = json.loads(line)
        for kind, body in event.items():
            if kind == "ScenarioFinished":
                count += len((body.get("recorder") or {}).get("cases") or {})
print(count)
EOF
)
  if [ "$cases" -eq 0 ]; then rc=1; fi  # nothing tested is a failure too
  total=$((total + cases))
  summary+="$who: $cases cases, schemathesis exit $rc, $(($(date +%s) - t0)) s"$'\n'
  [ "$rc" -eq 0 ] || status=1
done

echo
echo "=== fuzz summary"
printf '%s' "$summary"
echo "total: $total cases in $(($(date +%s) - started)) s (seed $seed, at most $max_examples per operation and phase)"
# A server error schemathesis did not see (e.g. in a worker) fails the run too.
if grep -qE "Traceback| ERROR |\[ERROR\]|CRITICAL" "$work/gunicorn.log"; then
  echo "gunicorn's log has errors:"
  grep -E -A40 "Traceback| ERROR |\[ERROR\]|CRITICAL" "$work/gunicorn.log" | head -200
  status=1
fi
exit "$status"
