# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a command so that it cannot outlive its deadline, nor the module that started it.

AnsibleModule.run_command has neither a timeout nor a process group of its own (ansible-core
module_utils/basic.py), and subprocess's own timeout kills only the child, not what it started.
So: the command runs in a new session (its own process group); at the deadline the whole group gets
SIGTERM, then SIGKILL after a grace; on Linux the child also gets SIGKILL when the module dies
(prctl PR_SET_PDEATHSIG, for a module killed with SIGKILL).

Under a task's `timeout:` ansible-core does not signal the module: the worker raises TaskTimeoutError
around the connection's Popen and exits (ansible/_internal/_errors/_alarm_timeout.py,
plugins/connection/local.py), leaving the module orphaned with its stdout pipe unread. The module
notices that (POLLERR on its stdout: nobody reads its result any more) and stops the command at once.
SIGTERM, SIGHUP and SIGINT (AWX cancel, a closed terminal, Ctrl-C, which no longer reaches a command
in its own session) become the exception Terminated, so every `finally` runs: the command's group is
killed and temporary files are removed.
"""


import contextlib
import os
import select
import signal
import subprocess
import time

GRACE_SECONDS = 5
_SLICE = 0.5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Terminated(BaseException):
    """The module received SIGTERM, SIGHUP or SIGINT. A BaseException, as KeyboardInterrupt, so that no
    `except Exception` swallows it and every `finally` runs."""

    def __init__(self, signum):
        super(Terminated, self).__init__("the module received signal %d" % signum)
        self.signum = signum


class ControllerGone(Exception):
    """Nobody reads the module's result any more (the task timed out or the play was stopped)."""


class Outcome(object):
    def __init__(self, rc, stdout, stderr, timed_out=False):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.timed_out = timed_out


@contextlib.contextmanager
def terminate_on_signals(signals=(signal.SIGTERM, signal.SIGHUP, signal.SIGINT)):
    """Within the block, the given signals raise Terminated instead of ending the process untidily."""
    def handler(signum, _frame):
        raise Terminated(signum)

    previous = {}
    for signum in signals:
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def controller_gone(fd=1):
    """True when the module's stdout is a pipe whose reader has gone (poll(2) reports POLLERR)."""
    if not hasattr(select, "poll"):
        return False
    poller = select.poll()
    try:
        poller.register(fd, 0)
        events = poller.poll(0)
    except (OSError, ValueError):
        return False
    return any(mask & (select.POLLERR | select.POLLNVAL) for _fd, mask in events)


def _death_signal():
    """A preexec function that asks Linux to SIGKILL the child when this process dies, or None."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec():
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the module died between fork and prctl
            os._exit(1)

    return preexec


def kill_group(pgid, grace=GRACE_SECONDS, leader=None):
    """SIGTERM to the process group, then SIGKILL to whatever is left of it after `grace` seconds."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, signum)
        except OSError:
            return  # the group is empty
        end = time.time() + (grace if signum == signal.SIGTERM else 0)
        while time.time() < end:
            if leader is not None:
                leader.poll()  # reaps the leader, or it stays a zombie member of the group
            try:
                os.killpg(pgid, 0)
            except OSError:
                return
            time.sleep(0.05)


def run(argv, deadline, grace=GRACE_SECONDS, env=None, watch_controller=True):
    """Run argv (a list, never a shell string) with stdin from /dev/null; an Outcome.

    At `deadline` seconds the process group is stopped (timed_out=True); when the controller stops
    reading (watch_controller) it is stopped too and ControllerGone raised; Terminated stops it and
    propagates. Anything the command left running in its group when it exited is killed as well."""
    # not AnsibleModule.run_command: it has no deadline, no process group and no way to stop the command
    proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, preexec_fn=_death_signal(), close_fds=True, env=env)
    out, err = [], []
    timed_out = False
    end = time.time() + deadline
    try:
        while True:
            try:
                o, e = proc.communicate(timeout=max(0.01, min(_SLICE, end - time.time())))
                out.append(o)
                err.append(e)
                break
            except subprocess.TimeoutExpired:
                pass
            if proc.poll() is not None:
                kill_group(proc.pid, 0, proc)  # exited, but something it started holds its output open
            elif time.time() >= end:
                timed_out = True
                kill_group(proc.pid, grace, proc)
            elif watch_controller and controller_gone():
                raise ControllerGone("the controller stopped waiting for the module")
    finally:  # also on Terminated and ControllerGone: nothing of the group survives the call
        kill_group(proc.pid, grace if proc.poll() is None else 0, proc)
        proc.wait()
    text = [b"".join(x for x in part if x).decode("utf-8", "replace") for part in (out, err)]
    return Outcome(proc.returncode, text[0], text[1], timed_out=timed_out)
