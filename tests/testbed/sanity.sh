#!/usr/bin/env bash
# ansible-test sanity needs the collection at ansible_collections/edge/cluster:
# copy the tracked (and new, not ignored) files there and run it. The sanity
# tools live in ansible-test's own venvs (--venv), cached under $HOME.
source "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest="${tmp}/ansible_collections/edge/cluster"
mkdir -p "$dest"
cd "$REPO_ROOT"
git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$dest/"
cd "$dest"
py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ansible-test --version
ansible-test sanity --venv --requirements --python "$py" --color no ${EDGE_SANITY_ARGS:-}
