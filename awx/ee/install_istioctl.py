"""Install one istioctl release into a directory, refusing any archive whose sha256 is not the pinned one.

    install_istioctl.py --version 1.30.3 --arch linux-amd64 --sha256-file FILE --dest /usr/local/bin

Run by the execution environment's build (execution-environment.yml) with the EE's own Python, so the image
needs neither curl nor tar. The archive and its checksum file are the ones Istio's release process publishes:
istio/release-builder pkg/build/archive.go names the archive istioctl-<version>-<os>-<arch>.tar.gz (the
`istioctl` binary at its top level) and pkg/util/files.go CreateSha writes "<sha256 hex> <archive name>\\n"
beside it as <archive>.sha256, on https://github.com/istio/istio/releases/download/<version>/.
"""

import argparse
import hashlib
import io
import os
import re
import sys
import tarfile
import urllib.request

RELEASES = os.environ.get("ISTIO_RELEASE_URL", "https://github.com/istio/istio/releases/download")


def pinned_sha256(path, archive):
    """The checksum pinned for `archive` in `path` (release-builder's format; '#' lines are comments)."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            match = re.fullmatch(r"([0-9a-f]{64})\s+\*?(\S+)", line)
            if match and match.group(2) == archive:
                return match.group(1)
    raise SystemExit(
        f"no sha256 pinned for {archive} in {path}: copy the line of {RELEASES}/<version>/{archive}.sha256 "
        "into it (after checking it against a second source) - the build refuses an unverified istioctl")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True)
    parser.add_argument("--arch", default="linux-amd64")
    parser.add_argument("--sha256-file", required=True)
    parser.add_argument("--dest", default="/usr/local/bin")
    args = parser.parse_args(argv)

    archive = f"istioctl-{args.version}-{args.arch}.tar.gz"
    expected = pinned_sha256(args.sha256_file, archive)
    url = f"{RELEASES}/{args.version}/{archive}"
    with urllib.request.urlopen(url, timeout=300) as response:  # noqa: S310 - a fixed https (or test file://) URL
        data = response.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise SystemExit(f"sha256 mismatch for {url}: got {actual}, pinned {expected}; refusing to install it")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.getmember("istioctl")
        if not member.isfile():
            raise SystemExit(f"{archive}: 'istioctl' is not a regular file")
        binary = tar.extractfile(member).read()
    os.makedirs(args.dest, exist_ok=True)
    target = os.path.join(args.dest, "istioctl")
    with open(target, "wb") as out:
        out.write(binary)
    os.chmod(target, 0o755)
    print(f"installed {target} from {url} (sha256 {actual})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
