#!/usr/bin/env bash
# artifacts.sh ROOT DOUBLE_DIR "VERSION..." : release-shaped archives of the
# KubeEdge test doubles for the cloudcore scenario, one directory per version:
#   ROOT/<v>/keadm-<v>-linux-amd64.tar.gz      keadm-<v>-linux-amd64/keadm/keadm
#   ROOT/<v>/kubeedge-<v>-linux-amd64.tar.gz   kubeedge-<v>-linux-amd64/cloud/cloudcore/cloudcore
#   ROOT/<v>/checksum_<archive>.txt            sha512 hex, like the real releases
set -euo pipefail
root=$1 double=$2
read -r -a versions <<< "$3"
for v in "${versions[@]}"; do
  out="${root}/${v}"; src="${root}/src/${v}"
  rm -rf "$src"; mkdir -p "$out" "${src}/keadm-${v}-linux-amd64/keadm" "${src}/kubeedge-${v}-linux-amd64/cloud/cloudcore"
  sed "s/@KUBEEDGE_VERSION@/${v}/" "${double}/keadm.py" > "${src}/keadm-${v}-linux-amd64/keadm/keadm"
  sed "s/\"CLOUDCORE_DOUBLE_VERSION\", \"v1.13.1\"/\"CLOUDCORE_DOUBLE_VERSION\", \"${v}\"/" "${double}/cloudcore.py" \
    > "${src}/kubeedge-${v}-linux-amd64/cloud/cloudcore/cloudcore"
  chmod 755 "${src}/keadm-${v}-linux-amd64/keadm/keadm" "${src}/kubeedge-${v}-linux-amd64/cloud/cloudcore/cloudcore"
  echo "$v" > "${src}/keadm-${v}-linux-amd64/version"
  echo "$v" > "${src}/kubeedge-${v}-linux-amd64/version"
  for t in keadm kubeedge; do
    # fixed mtimes: the same sources give the same archive (and checksum)
    tar -C "$src" --owner=0 --group=0 --mtime=@0 --sort=name -cf - "${t}-${v}-linux-amd64/" | gzip -n > "${out}/${t}-${v}-linux-amd64.tar.gz"
    sha512sum "${out}/${t}-${v}-linux-amd64.tar.gz" | cut -d' ' -f1 > "${out}/checksum_${t}-${v}-linux-amd64.tar.gz.txt"
  done
done
