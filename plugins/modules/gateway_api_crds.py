#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: gateway_api_crds
short_description: Ensure the Gateway API CRDs at a pinned version and channel
version_added: 0.1.0
description:
  - Applies the Gateway API CustomResourceDefinitions of one release (and, from v1.5, the
    C(safe-upgrades) ValidatingAdmissionPolicy that comes with them) by server-side apply,
    from a local file or a URL, then waits until every CRD is C(Established).
  - Reads the installed bundle from the C(gateway.networking.k8s.io/bundle-version) and
    C(gateway.networking.k8s.io/channel) annotations of the CRDs, and never downgrades,
    switches channel or deletes CRDs unless an option says so; when it refuses it says why.
  - Istio and Gateway API versions go together; Istio 1.24 uses v1.2, 1.26 and 1.27 v1.3,
    1.28 and 1.29 v1.4, 1.30 v1.5.1.
author:
  - ambient.mesh maintainers (@ambient-mesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambient.mesh._wait
  - ambient.mesh._apply
  - ambient.mesh._request
attributes:
  check_mode:
    description: Asks the API server for a dry run; nothing changes.
    support: full
  diff_mode:
    description:
      - One entry per changed object (CRD, admission policy), the whole object before and after
        (created - before is empty; deleted - after is empty), without server-managed fields.
    support: full
  idempotent:
    description: A second run with the same options reports no change and writes nothing.
    support: full
options:
  version:
    description:
      - The Gateway API release, for example V(v1.5.1).
      - Required with O(state=present); O(state=absent) removes whatever version is installed.
    type: str
  channel:
    description:
      - The release channel.
    type: str
    choices: [standard, experimental]
    default: standard
  src:
    description:
      - A local file with the release bundle (C(standard-install.yaml) or C(experimental-install.yaml)).
      - Mutually exclusive with O(url). Without either, the bundle is downloaded from the
        Gateway API release page for O(version) and O(channel).
    type: path
  url:
    description:
      - Where to download the release bundle from.
    type: str
  url_timeout:
    description:
      - Seconds to wait for the download.
    type: int
    default: 30
  state:
    description:
      - V(present) installs or upgrades the CRDs.
      - V(absent) deletes the Gateway API CRDs that carry a bundle-version annotation, and refuses
        while objects of them (routes, gateways) exist unless O(force=true). Deleting a CRD deletes
        every object of its kind.
    type: str
    choices: [present, absent]
    default: present
  allow_downgrade:
    description:
      - Allow installing a version older than the one installed.
    type: bool
    default: false
  allow_channel_switch:
    description:
      - Allow switching between the standard and experimental channels.
    type: bool
    default: false
  force:
    description:
      - With O(state=absent), delete the CRDs even while objects of them exist.
    type: bool
    default: false
requirements:
  - kubernetes >= 24.2.0
  - PyYAML >= 3.11
"""

EXAMPLES = r"""
- name: Install the Gateway API CRDs that Istio 1.30 is built against
  ambient.mesh.gateway_api_crds:
    version: v1.5.1

- name: Install them from a file shipped with the playbook (air-gapped clusters)
  ambient.mesh.gateway_api_crds:
    version: v1.5.1
    src: files/gateway-api-v1.5.1-standard-install.yaml
    kubeconfig: ~/.kube/prod
    context: prod-eu-1

- name: Take over CRDs that were installed earlier with kubectl apply
  ambient.mesh.gateway_api_crds:
    version: v1.5.1
    force_conflicts: true
"""

RETURN = r"""
version:
  description: The bundle version installed before and after the run (null when none).
  returned: always
  type: dict
  sample: {"before": "v1.2.1", "after": "v1.5.1"}
channel:
  description: The channel installed before and after the run.
  returned: always
  type: dict
  sample: {"before": "standard", "after": "standard"}
crds:
  description: Names of the CRDs in the bundle.
  returned: always
  type: list
  elements: str
  sample: ["gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io"]
objects:
  description:
    - One entry per object of the bundle (with O(state=absent), per CRD deleted), with what was done
      to it - V(created), V(updated), V(unchanged) or V(deleted).
  returned: always
  type: list
  elements: dict
  sample: [{"ref": "CustomResourceDefinition httproutes.gateway.networking.k8s.io",
            "kind": "CustomResourceDefinition", "name": "httproutes.gateway.networking.k8s.io",
            "namespace": null, "action": "updated", "changed": true}]
"""

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url
from ansible_collections.ambient.mesh.plugins.module_utils._args import (
    APPLY_ARG_SPEC,
    REQUEST_ARG_SPEC,
    WAIT_ARG_SPEC,
    argument_spec,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import with_diff
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._gateway_api_crds.bundle import run
from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule, run_with_api
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule


def fetcher(timeout):
    def fetch(url):
        try:
            return to_text(open_url(url, timeout=timeout).read())
        except Exception as exc:  # every download failure reads the same to the user
            raise AmbientMeshError("cannot download the Gateway API bundle from %s: %s; check the URL and the "
                                   "network, or set src to a local copy" % (url, to_text(exc)))
    return fetch


def main():
    spec = argument_spec(WAIT_ARG_SPEC, APPLY_ARG_SPEC, REQUEST_ARG_SPEC, dict(
        version=dict(type="str"),
        channel=dict(type="str", choices=["standard", "experimental"], default="standard"),
        src=dict(type="path"),
        url=dict(type="str"),
        url_timeout=dict(type="int", default=30),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        allow_downgrade=dict(type="bool", default=False),
        allow_channel_switch=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
    ))
    module = AnsibleK8SModule(module_class=AmbientModule, argument_spec=spec, supports_check_mode=True, mutually_exclusive=[("src", "url")],
                              required_if=[("state", "present", ["version"])])
    fetch = fetcher(module.params["url_timeout"])
    result = run_with_api(module, lambda api: run(api, module.params, module.check_mode, fetch))
    module.exit_json(**with_diff(result, module._diff))


if __name__ == "__main__":
    main()
