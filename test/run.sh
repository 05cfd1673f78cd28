#!/usr/bin/env bash
# Runs the suite inside a private network namespace (only loopback), so no test
# can reach another host. Root gets `unshare -n` (multi-host tests can then build
# their own hosts with ip netns); others get a user namespace (`unshare -rn`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SEALDROP_IN_NETNS:-}" ]; then
  export SEALDROP_IN_NETNS=1
  if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then exec unshare -n bash test/run.sh "$@"; fi
  if unshare -rn true 2>/dev/null; then exec unshare -rn bash test/run.sh "$@"; fi
  echo "SKIP network isolation: this system does not allow network namespaces; tests use the host's loopback only"
  export SEALDROP_IN_NETNS=none
else
  ip link set lo up
fi
# No files named: the whole suite. Named files (bash test/run.sh test/x.test.ts): only those.
has_spec=0
for arg in "$@"; do case "$arg" in *.ts) has_spec=1 ;; esac; done
if [ "$has_spec" = 0 ]; then set -- "$@" 'test/**/*.test.ts'; fi
rc=0
npx mocha "$@" || rc=$?
# Nothing a test started outlives the run: a process left behind would hold the output open (and a
# CI run waiting for it) for ever. Inside our own network namespace, what is still there is ours.
if [ "${SEALDROP_IN_NETNS}" = 1 ]; then
  own_ns=$(readlink /proc/$$/ns/net)
  for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    [ "$pid" = $$ ] && continue
    [ "$(readlink "$proc/ns/net" 2>/dev/null)" = "$own_ns" ] || continue
    echo "left running after the tests (ended now): $(tr '\0' ' ' < "$proc/cmdline" 2>/dev/null)" >&2
    kill -9 "$pid" 2>/dev/null || true
  done
fi
exit "$rc"
