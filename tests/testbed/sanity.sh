#!/usr/bin/env bash
# ansible-test sanity needs the collection at ansible_collections/edge/cluster:
# copy the tracked (and new, not ignored) files there and run it. The sanity
# tools live in ansible-test's own venvs (--venv), cached under $HOME.
source "$(dirname "$0")/lib.sh"
apt_install shellcheck

# ansible-test bootstraps pip in its venvs with a get-pip.py it downloads from
# a host that is unreachable here: seed its cache with the offline stand-in.
pip_version=$(python3 - <<'PY'
import re, ansible_test, pathlib
src = (pathlib.Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py').read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
mkdir -p "${HOME}/.ansible/test/cache"
# ansible-test's venvs under ~/.ansible/test are shared: one run at a time.
exec 7> "${HOME}/.ansible/test/edge-cluster-sanity.lock"
flock 7
install -m 0644 "$(dirname "$0")/get_pip_offline.py" "${HOME}/.ansible/test/cache/get_pip_${pip_version//./_}.py"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest="${tmp}/ansible_collections/edge/cluster"
mkdir -p "$dest"
cd "$REPO_ROOT" || exit 1
# tests/double/ is left out: the KubeEdge stand-ins are not collection content,
# never ship (galaxy.yml build_ignore) and mirror a Go CLI's shapes on purpose;
# tests/integration/test_double.py exercises them.
git ls-files -co --exclude-standard -z -- . ':!tests/double' | rsync -a --from0 --files-from=- ./ "$dest/"
cd "$dest" || exit 1
py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ansible-test --version
# EDGE_SANITY_ARGS: extra arguments, e.g. "--test validate-modules".
read -r -a extra <<< "${EDGE_SANITY_ARGS:-}"
ansible-test sanity --venv --requirements --python "$py" --color no "${extra[@]}"
