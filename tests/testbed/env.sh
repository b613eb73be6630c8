# shellcheck shell=bash
# Sourced by the Makefile: activate the pinned venv and make this checkout
# importable as edge.cluster. Usage: source env.sh COLLECTIONS_ROOT
_edge_testbed="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_edge_venv="$("${_edge_testbed}/venv.sh")"
export PATH="${_edge_venv}/bin:${PATH}"
export VIRTUAL_ENV="${_edge_venv}"
export ANSIBLE_COLLECTIONS_PATH="$1"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=true
export PYTHONPATH="$1${PYTHONPATH:+:${PYTHONPATH}}"
export ANSIBLE_FORCE_COLOR=false
export PY_COLORS=0
if "${_edge_testbed}/controlplane.sh" status 2>/dev/null; then
  eval "$("${_edge_testbed}/controlplane.sh" env)"
fi
unset _edge_testbed _edge_venv
