#!/usr/bin/env bash
# Create (once per requirements.txt content) the controller virtualenv and
# print its path. Lives outside the work tree so later runs reuse it.
source "$(dirname "$0")/lib.sh"

req="${REPO_ROOT}/requirements.txt"
hash=$(sha256sum "$req" | cut -c1-12)
venv="${EDGE_CACHE}/venv-${hash}"
if [ -f "${venv}/.complete" ]; then
  echo "$venv"; exit 0
fi
mkdir -p "$EDGE_CACHE"
# One creator at a time: parallel make targets or test runs wait here.
exec 9> "${EDGE_CACHE}/venv.lock"
flock 9
if [ -f "${venv}/.complete" ]; then
  echo "$venv"; exit 0
fi
rm -rf "$venv"
log "creating ${venv} from requirements.txt (about 2 minutes)"
python3 -m venv "$venv"
"${venv}/bin/pip" install -q --upgrade pip >&2
"${venv}/bin/pip" install -q -r "$req" >&2
touch "${venv}/.complete"
echo "$venv"
