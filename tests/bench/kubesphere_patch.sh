#!/usr/bin/env bash
# Baseline for tests/bench/bench_daemonset.py: this project's own
# re-implementation of the approach of the KubeSphere runbook's DaemonSet
# patch step (KubeSphere documentation, "添加边缘节点" / "Add Edge Nodes",
# https://kubesphere.io/docs/):
# for every pod on a node whose name matches the argument, find the pod's
# controller with `kubectl describe`, merge-patch a required node affinity
# "node-role.kubernetes.io/edge DoesNotExist" into it, then wait one second.
# Not the runbook's script; written here to time the same per-pod method
# against the module edge.cluster.daemonset_edge_affinity. Uses the kubectl
# and KUBECONFIG of the caller's environment. Not shipped (tests/ is build_ignore).
set -u

match=${1:-edgenode}
affinity='{"spec":{"template":{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":'
affinity+='{"nodeSelectorTerms":[{"matchExpressions":[{"key":"node-role.kubernetes.io/edge","operator":"DoesNotExist"}]}]}}}}}}}'

# namespace, pod and node of every pod (one listing), kept when the node matches.
kubectl get pods --all-namespaces --no-headers \
    -o custom-columns=NS:.metadata.namespace,POD:.metadata.name,NODE:.spec.nodeName \
  | while read -r ns pod node; do
      case "$node" in *"$match"*) ;; *) continue ;; esac
      # "Controlled By:  DaemonSet/<name>" in the pod's description.
      owner=$(kubectl -n "$ns" describe pod "$pod" | sed -n 's/^Controlled By:[[:space:]]*//p')
      [ -n "$owner" ] || continue
      echo "patch ${ns} ${owner} (pod ${pod})"
      kubectl -n "$ns" patch "$owner" --type merge --patch "$affinity"
      sleep 1
    done
