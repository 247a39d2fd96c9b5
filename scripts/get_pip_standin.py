"""Offline stand-in for pip's get-pip.py, for ansible-test --venv.

ansible-test downloads get-pip.py to bootstrap pip into each fresh virtualenv; that host may be
unreachable. This does the same job with what Python ships: ensurepip, then pip install of the
packages ansible-test asks for (from the package index pip is configured with).
"""

import subprocess
import sys

OPTIONS_ONLY_FOR_GET_PIP = {"--no-setuptools", "--no-wheel"}


def main():
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
    args = [a for a in sys.argv[1:] if a not in OPTIONS_ONLY_FOR_GET_PIP]
    if args:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args)


if __name__ == "__main__":
    main()
