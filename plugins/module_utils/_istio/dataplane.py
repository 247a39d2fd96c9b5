# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is the ambient data plane (ztunnel, istio-cni) healthy enough to capture pods?"""


from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._istio.state import ISTIO_READS, daemonset_health, read_lists

# the same lookups as every other reader of Istio's state (labels of Istio's charts, see _istio_state)
READS = dict((name, ISTIO_READS[name]) for name in ("ztunnel", "istio-cni"))


def dataplane_problems(api, concurrency=8):
    raw = read_lists(api, READS, concurrency)
    problems = []
    for name in ("ztunnel", "istio-cni"):
        if not raw[name]:
            problems.append("%s is not installed" % name)
        for ds in raw[name]:
            health = daemonset_health(ds)
            if not health["ready"]:
                problems.append("%s %s/%s has %d/%d pods ready" % (name, health["namespace"], health["name"],
                                                                   health["ready_count"], health["desired"]))
    return problems


def require_healthy_dataplane(api, concurrency=8):
    problems = dataplane_problems(api, concurrency)
    if problems:
        raise AmbientMeshError("refusing to enroll namespaces while the ambient data plane is not healthy: %s; pods "
                               "started now would not be captured. Wait for the install (ambient.mesh.install "
                               "role) or set check_dataplane: false" % "; ".join(problems), dataplane=problems)
