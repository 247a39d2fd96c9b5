# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kubernetes client and kubernetes.core, imported once. Without them HAS_KUBERNETES is False and
KubeApi, which every module builds first, fails with the install hint; the stand-in exception classes
keep the `except` clauses of the other files valid meanwhile."""


__all__ = ["ApiException", "CONNECTION_ERRORS", "CoreException", "DynamicApiError", "FILE_ERRORS",
           "HAS_KUBERNETES", "core_v1_api", "get_api_client", "stream"]

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError
    from kubernetes.stream import stream
    import urllib3.exceptions
    import yaml

    HAS_KUBERNETES = True
    CONNECTION_ERRORS = (urllib3.exceptions.HTTPError, ConnectionError)
    # what the kubernetes client lets through while it reads the kubeconfig (yaml.safe_load in
    # kubernetes/config/kube_config.py) and the certificate files (ssl, on the first request)
    FILE_ERRORS = (OSError, yaml.YAMLError)
except ImportError:
    HAS_KUBERNETES = False
    CONNECTION_ERRORS = (ConnectionError,)
    FILE_ERRORS = (OSError,)
    get_api_client = stream = None

    class DynamicApiError(Exception):
        pass

    class CoreException(Exception):
        pass

    class ApiException(Exception):
        pass


def core_v1_api(api_client):
    """kubernetes.client's CoreV1Api over api_client (pod exec needs it). Imported when first asked for, not
    above: that import loads some 250 API and model modules, three quarters of a second of every module's
    start-up, and only the modules that run a command in a pod use it."""
    from kubernetes.client import CoreV1Api  # pylint: disable=import-outside-toplevel

    return CoreV1Api(api_client)
