"""What a command run in a simulated container gives back: the contract between the pods/exec
transport (exec.py) and the simulated data plane (dataplane/)."""

import collections

# stdout and stderr as bytes, the process's exit code (0 success)
ExecResult = collections.namedtuple("ExecResult", "stdout stderr exit_code")


class ExecutableNotFound(Exception):
    """The container's image has no such executable (the runtime's exec fails, nothing runs)."""

    def __init__(self, executable):
        super().__init__(executable)
        self.executable = executable
