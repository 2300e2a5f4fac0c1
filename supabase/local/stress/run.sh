#!/usr/bin/env bash
# Hammers create / webhook / cancel / worker claim+complete / sweeps concurrently, then
# checks the books: api.audit_credits() must be [] and the server log free of errors
# (deadlocks included). Usage: run.sh <psql connection options...> (database must be a
# FRESH throwaway one with bootstrap + migrations applied), e.g.
#   supabase/local/stress/run.sh -h 127.0.0.1 -p 55410 -U postgres -d stress
# Env: CLIENTS (16), SECONDS_TO_RUN (30).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
psql -X -q -v ON_ERROR_STOP=1 "$@" -f "$here/fixtures.sql" >/dev/null
pgbench -n -c "${CLIENTS:-16}" -j 2 -T "${SECONDS_TO_RUN:-30}" \
  -f "$here/create.sql@6" -f "$here/provider.sql@3" -f "$here/cancel.sql@1" \
  -f "$here/worker.sql@4" -f "$here/sweep.sql@1" "$@" | grep -E 'processed|failed|tps'
audit=$(psql -X -qAt "$@" -c 'select api.audit_credits()')
echo "audit_credits: $audit"
[ "$audit" = "[]" ]
