#!/usr/bin/env bash
# Point <root>/ansible_collections/edge/cluster at this checkout, so that
# ansible, molecule and pytest import it as edge.cluster.
source "$(dirname "$0")/lib.sh"
root="$1"
mkdir -p "${root}/ansible_collections/edge"
link="${root}/ansible_collections/edge/cluster"
if [ "$(readlink "$link" 2>/dev/null)" != "$REPO_ROOT" ]; then
  ln -sfn "$REPO_ROOT" "$link"
fi
