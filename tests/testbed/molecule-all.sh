#!/usr/bin/env bash
# Run every Molecule scenario (molecule/*/molecule.yml, shared/ excepted),
# one after the other, and report each one's wall time. A scenario that needs
# a cloud side ships molecule/<scenario>/testbed.sh: `setup` prints the
# exports its molecule.yml reads, `teardown` stops what setup started.
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
  hook="molecule/${s}/testbed.sh"
  if [ -x "$hook" ]; then
    log "${s}: starting its test bed"
    exports=$("$hook" setup)
    eval "$exports"
  fi
  log "molecule test -s ${s}"
  rc=0
  molecule test -s "$s" || rc=$?
  if [ -x "$hook" ]; then "$hook" teardown || true; fi
  [ "$rc" -eq 0 ] || die "Molecule scenario ${s} failed (rc=${rc})"
  summary+=("${s}: passed in $(( $(date +%s) - start )) s")
done
printf 'Molecule: %s\n' "${summary[@]}"
