#!/usr/bin/env bash
# Run every Molecule scenario (molecule/*/molecule.yml, shared/ excepted),
# one after the other, and report each one's wall time.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT" || exit 1
scenarios=()
for f in molecule/*/molecule.yml; do
  scenarios+=("$(basename "$(dirname "$f")")")
done
[ "$#" -gt 0 ] && scenarios=("$@")
summary=()
for s in "${scenarios[@]}"; do
  start=$(date +%s)
  log "molecule test -s ${s}"
  molecule test -s "$s"
  summary+=("${s}: passed in $(( $(date +%s) - start )) s")
done
printf 'Molecule: %s\n' "${summary[@]}"
