#!/usr/bin/env bash
# Run commands side by side ("lanes") and fail when any of them fails.
#
#   lanes.sh NAME 'COMMAND' [NAME 'COMMAND' ...]
#
# Each lane's command runs in bash, its output prefixed with "[NAME] " as it
# comes, and its whole log kept in ${EDGE_RUN}/lanes/NAME.log. At the end every
# lane's exit code and wall time are printed, then the end of each failed
# lane's log. The tests of one lane must not disturb another lane's (see
# LANES in tests/conftest.py for how the integration tests are split).
#
# EDGE_LANE_JOBS (default: all) caps how many lanes run at once; the others
# start, in the order given, as running ones end. 1 runs them one by one.
source "$(dirname "$0")/lib.sh"

if [ "$#" -lt 2 ] || [ $(( $# % 2 )) -ne 0 ]; then
  die "usage: lanes.sh NAME 'COMMAND' [NAME 'COMMAND' ...]"
fi
dir="${EDGE_RUN}/lanes"
mkdir -p "$dir"
jobs_max="${EDGE_LANE_JOBS:-$(( $# / 2 ))}"
[[ "$jobs_max" =~ ^[1-9][0-9]*$ ]] || die "EDGE_LANE_JOBS must be a positive number, got '${jobs_max}'"
names=()
pids=()
while [ "$#" -gt 0 ]; do
  name=$1 cmd=$2
  shift 2
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
    wait -n || true
  done
  rm -f "${dir}/${name}.rc"
  log "lane ${name}: ${cmd}"
  (
    set +e
    start=$(date +%s)
    bash -o pipefail -c "$cmd" > >(tee "${dir}/${name}.log" | sed -u "s/^/[${name}] /") 2>&1
    echo "$? $(( $(date +%s) - start ))" > "${dir}/${name}.rc"
  ) &
  names+=("$name")
  pids+=("$!")
done

# Stop every lane (and what it started) when this script is interrupted.
trap 'kill -- "${pids[@]}" 2>/dev/null; pkill -P "$$" 2>/dev/null; exit 130' INT TERM

failed=()
summary=()
for i in "${!names[@]}"; do
  wait "${pids[$i]}" || true
  read -r rc secs < "${dir}/${names[$i]}.rc" 2>/dev/null || { rc=255; secs="?"; }
  summary+=("lane ${names[$i]}: rc=${rc} in ${secs} s")
  [ "$rc" -eq 0 ] || failed+=("${names[$i]}")
done
for name in "${failed[@]}"; do
  printf '\n==== end of lane %s (full log: %s/%s.log)\n' "$name" "$dir" "$name"
  tail -n 150 "${dir}/${name}.log"
done
printf '%s\n' "${summary[@]}"
[ "${#failed[@]}" -eq 0 ] || die "lane(s) failed: ${failed[*]}"
