"""`python -m embedded_cluster --kubeconfig PATH [...]`: start the embedded cluster until SIGTERM or Ctrl-C
(the command line of embedded_cluster/apiserver/__main__.py; --help lists its options)."""

import sys

from .apiserver.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
