#!/usr/bin/env bash
# The KubeSphere runbook's DaemonSet patch script (KubeSphere documentation,
# "添加边缘节点" / "Add Edge Nodes", step 6, https://kubesphere.io/docs/),
# reproduced verbatim below this
# comment so tests/bench/bench_daemonset.py can time it against the module
# edge.cluster.daemonset_edge_affinity. It uses whatever `kubectl` and
# KUBECONFIG the caller puts in the environment (the benchmark: kubectl
# v1.20.2 from Debian's kubernetes-client, a ServiceAccount kubeconfig).
# Not shipped (tests/ is in galaxy.yml build_ignore). Only the shebang differs
# from the runbook's `#!/bin/bash` (ansible-test's shebang rule; the benchmark
# runs it with `bash` anyway). The directive below only silences shellcheck
# about the runbook's own style; the code is unchanged.
# shellcheck disable=SC2004,SC2027,SC2034,SC2086,SC2196,SC2207

NodeSelectorPatchJson='{"spec":{"template":{"spec":{"nodeSelector":{"node-role.kubernetes.io/master": "","node-role.kubernetes.io/worker": ""}}}}}'

NoShedulePatchJson='{"spec":{"template":{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"node-role.kubernetes.io/edge","operator":"DoesNotExist"}]}]}}}}}}}'

edgenode="edgenode"
if [ $1 ]; then
        edgenode="$1"
fi


namespaces=($(kubectl get pods -A -o wide |egrep -i $edgenode | awk '{print $1}' ))
pods=($(kubectl get pods -A -o wide |egrep -i $edgenode | awk '{print $2}' ))
length=${#namespaces[@]}


for((i=0;i<$length;i++));  
do
        ns=${namespaces[$i]}
        pod=${pods[$i]}
        resources=$(kubectl -n $ns describe pod $pod | grep "Controlled By" |awk '{print $3}')
        echo "Patching for ns:"${namespaces[$i]}",resources:"$resources
        kubectl -n $ns patch $resources --type merge --patch "$NoShedulePatchJson"
        sleep 1
done
