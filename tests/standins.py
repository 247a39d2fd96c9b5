"""Stand-ins for calling the collection's module_utils without a running Ansible module."""

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC


class ModuleStandIn:
    """What kubernetes.core's client creation reads from a module: params and requires()."""

    check_mode = False
    server_side_dry_run = False

    def __init__(self, kubeconfig):
        self.params = dict.fromkeys(AUTH_ARG_SPEC)
        self.params["kubeconfig"] = kubeconfig

    def requires(self, *args, **kwargs):
        pass


class FakeTime:
    """A monotonic clock that moves only when the code under test sleeps: a minute of retries in no time."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
