# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with a kubeconfig or the files it names, before the kubernetes client's traceback says it worse."""


import os


def kubeconfig_problem(params, environ=None):
    """Which kubeconfig file was looked for and is missing, as a message; None when that is not the problem.

    The order is kubernetes.core's (the kubeconfig option, then K8S_AUTH_KUBECONFIG) and then the kubernetes
    client's default (KUBECONFIG, else ~/.kube/config: kubernetes/config/kube_config.py).
    """
    paths, source = _kubeconfig_paths(params, environ)
    if paths is None:
        return None
    missing = [p for p in paths if not os.path.isfile(p)]
    if not paths or len(missing) < len(paths):
        return None
    return ("kubeconfig %s does not exist (%s): give the path of a kubeconfig file (the kubeconfig option or "
            "K8S_AUTH_KUBECONFIG), or host with api_key" % (", ".join(_unmasked(p) for p in missing), source))


def _kubeconfig_paths(params, environ=None):
    """(the kubeconfig files the client reads, where that came from); (None, None) for an inline kubeconfig."""
    environ = os.environ if environ is None else environ
    given = params.get("kubeconfig")
    if isinstance(given, dict):
        return None, None
    if given:
        source = "the kubeconfig option"
    elif environ.get("K8S_AUTH_KUBECONFIG"):
        given, source = environ["K8S_AUTH_KUBECONFIG"], "K8S_AUTH_KUBECONFIG"
    elif environ.get("KUBECONFIG"):
        given, source = environ["KUBECONFIG"], "KUBECONFIG"
    else:
        given, source = "~/.kube/config", "the default, as neither kubeconfig nor K8S_AUTH_KUBECONFIG is set"
    return [os.path.expanduser(p) for p in str(given).split(os.pathsep) if p], source


def file_problem(params, exc, environ=None):
    """A file given to the client that it cannot read or parse (a directory, a file that is not YAML, a missing
    certificate), as a message naming the option and the path."""
    reason = _reason(exc)
    filename = getattr(exc, "filename", None)
    for option in ("ca_cert", "client_cert", "client_key"):
        value = params.get(option)
        if filename and value and os.path.abspath(os.path.expanduser(value)) == os.path.abspath(filename):
            return "%s %s cannot be read: %s: give the path of a readable PEM file" % (option, value, reason)
    paths, source = _kubeconfig_paths(params, environ)
    if paths and (not isinstance(exc, OSError) or (filename and os.path.abspath(filename) in map(os.path.abspath, paths))):
        where = _unmasked(filename) if filename else ", ".join(_unmasked(p) for p in paths)
        what = reason if isinstance(exc, OSError) else "it is not a kubeconfig file (YAML): %s" % reason
        return "kubeconfig %s cannot be read (%s): %s; give the path of a kubeconfig file" % (where, source, what)
    return "cannot connect to Kubernetes: %s (check kubeconfig, ca_cert, client_cert and client_key)" % reason


def _reason(exc):
    """The error without the file's path (a kubeconfig path would be masked as no_log): a YAML error's problem and
    where it is (PyYAML's MarkedYAMLError), an OSError's strerror."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if problem and mark is not None:
        return "%s %s at line %d, column %d" % (getattr(exc, "context", None) or "", problem, mark.line + 1, mark.column + 1)
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def unmask_paths(text, params, environ=None):
    """text with each kubeconfig path as _unmasked gives it, so that Ansible's no_log masking leaves it readable
    (the kubernetes client names the file: "Invalid kube-config. <path> file is empty")."""
    paths = _kubeconfig_paths(params, environ)[0] or []
    for path in sorted(paths, key=len, reverse=True):
        text = text.replace(path, _unmasked(path))
    return text


def _unmasked(path):
    """The path as "<name> in <directory>": kubernetes.core declares kubeconfig no_log (it may be an inline
    config with credentials), so Ansible would print the path itself as ********; a path is no secret."""
    directory, name = os.path.split(path)
    return "%s in %s/" % (name, directory) if directory and name else path
