"""Journey 1, a new controller: the collection tarball installed into an empty
collections path, inventories/example copied and changed only where the README
and the example's all.yml say (hosts, the KubeEdge version the test bed's
Kubernetes 1.20 runs, the CloudCore address, the offline artifacts directory), then `ansible-playbook edge.cluster.site` run from outside
the checkout. The edge Node must end Ready. Afterwards `edge.cluster.reset`
removes the edge node again, Node included.

What only the test bed needs, each said where it is done: the hosts are
containers (docker connection instead of SSH: the lab test covers SSH), the
KubeEdge test doubles stand in for the release (offline artifacts directory),
and the cloud host gets the doubles' CloudCore "image" (no registry here).
"""

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from kubernetes import client

pytestmark = [pytest.mark.lane("cloud"), pytest.mark.usefixtures("edge_lab")]


def sh(*cmd, **kw):
    return subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The built tarball, installed offline into an empty collections path."""
    base = tmp_path_factory.mktemp("j1")
    bindir = os.path.dirname(sys.executable)
    home = base / "home"
    home.mkdir()
    env = {"PATH": "%s:/usr/bin:/bin:/usr/sbin:/sbin" % bindir, "HOME": str(home),
           "ANSIBLE_COLLECTIONS_PATH": str(base / "collections"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_HOST_KEY_CHECKING": "False"}
    build = sh(os.path.join(bindir, "ansible-galaxy"), "collection", "build", "--output-path", str(base / "dist"),
               cwd=str(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))))
    assert build.returncode == 0, build.stdout
    tarball = next((base / "dist").glob("edge-cluster-*.tar.gz"))
    inst = sh(os.path.join(bindir, "ansible-galaxy"), "collection", "install", "--offline", str(tarball), env=env,
              cwd=str(base))
    assert inst.returncode == 0, inst.stdout
    assert (base / "collections" / "ansible_collections" / "edge" / "cluster" / "MANIFEST.json").is_file()
    return base, env


def test_new_controller_runs_the_example_inventory(rel, installed, edge_hosts, api_client, kubeconfig):
    base, env = installed
    cloud, edge = edge_hosts.start(2)
    core = client.CoreV1Api(api_client)
    # A fresh cluster has no CloudCore certificate for another address (the
    # shared test bed may: other tests' CloudCores advertise theirs).
    try:
        core.delete_namespaced_secret("cloudcoresecret", "kubeedge")
    except client.ApiException as exc:
        assert exc.status == 404, exc

    # The cloud host as an operator has it: the cluster admin kubeconfig at the
    # path cloud.yml names. Test bed only: the doubles' CloudCore "image".
    cloud.sh("mkdir -p /root/.kube /usr/local/lib/keadm-double")
    subprocess.run(["docker", "cp", str(kubeconfig), "%s:/root/.kube/config" % cloud.name], check=True)
    subprocess.run(["docker", "cp", str(rel.REPO / "tests" / "double" / "cloudcore.py"),
                    "%s:/usr/local/lib/keadm-double/cloudcore.py" % cloud.name], check=True)
    cloud.sh("chmod 600 /root/.kube/config; chmod 755 /usr/local/lib/keadm-double/cloudcore.py")
    cloud_ip = cloud.sh("hostname -I").stdout.split()[0]

    # The artifacts directory an offline site keeps on the controller (<dir>/<version>/...).
    art = sh(str(rel.REPO / "tests" / "double" / "package.sh"), rel.KUBEEDGE_VERSION)
    assert art.returncode == 0, art.stdout
    artifacts = art.stdout.strip().splitlines()[-1]

    # cp -r inventories/example inventories/mysite, then the README's edits.
    site = base / "mysite"
    shutil.copytree(rel.REPO / "inventories" / "example", site)
    hosts = yaml.safe_load((site / "hosts.yml").read_text(encoding="utf-8"))
    reach = {"ansible_connection": "community.docker.docker", "ansible_user": "root",
             "ansible_python_interpreter": "/usr/bin/python3"}
    hosts["all"]["children"]["cloud"]["hosts"] = {cloud.name: dict(reach, ansible_host=cloud.name)}
    hosts["all"]["children"]["edge"]["hosts"] = {edge.name: dict(reach, ansible_host=edge.name)}
    (site / "hosts.yml").write_text(yaml.safe_dump(hosts), encoding="utf-8")
    all_vars = (site / "group_vars" / "all.yml").read_text(encoding="utf-8")
    for old, new in (("edge_cluster_kubeedge_version: v1.23.1", "edge_cluster_kubeedge_version: %s" % rel.KUBEEDGE_VERSION),
                     ("edge_cluster_cloudcore_address: 192.0.2.10", "edge_cluster_cloudcore_address: %s" % cloud_ip),
                     ('edge_cluster_artifacts_dir: ""', "edge_cluster_artifacts_dir: %s" % artifacts)):
        assert old in all_vars, old
        all_vars = all_vars.replace(old, new)
    (site / "group_vars" / "all.yml").write_text(all_vars, encoding="utf-8")

    run = sh(os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(site), "edge.cluster.site",
             env=env, cwd=str(base))
    try:
        assert run.returncode == 0, run.stdout[-6000:]
        assert str(base / "collections") in sh(os.path.join(os.path.dirname(sys.executable), "ansible-doc"),
                                               "-t", "role", "edge.cluster.edgenode", env=env).stdout
        node = core.read_node(edge.name)
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions), node.status.conditions
        assert edge.sh("systemctl is-active edgecore", check=False).stdout.strip() == "active"
        assert (node.metadata.labels or {}).get("node-role.kubernetes.io/edge") == ""
    finally:
        # The installed collection's own reset of the edge host (its Node included), then
        # the test bed's removal of the CloudCore release (keadm's cloud reset would delete
        # namespace kubeedge, which the test bed's other users share).
        reset = sh(os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(site),
                   "edge.cluster.reset", "-e", "reset_confirm=false", env=env, cwd=str(base))
        sh(sys.executable, str(rel.REPO / "tests" / "testbed" / "remove-cloudcore-release.py"), str(kubeconfig))
    assert reset.returncode == 0, reset.stdout[-6000:]
    assert edge.name not in [n.metadata.name for n in core.list_node().items]
    assert edge.sh("ls /etc/kubeedge /usr/local/bin/edgecore 2>/dev/null; true").stdout.strip() == ""
