"""uPlot, the chart library of the page's training charts: the npm package, pinned and checked.

uPlot (https://github.com/leeoniya/uPlot, MIT) draws time series on a canvas: 50 KB minified, no
dependencies, fast enough to redraw at every training step. The site serves its ES module and
its stylesheet from web/vendor/, taken from the npm tarball `uplot@UPLOT_VERSION` whose integrity
(sha512, `npm view uplot@1.6.32 dist.integrity`) and each file's sha256 are pinned here.
"""

import hashlib
import tarfile
import tempfile

from .npm import npm_pack
from .verify import BuildError, install_file, sha256_of

UPLOT_VERSION = "1.6.32"
UPLOT_NPM_SPEC = f"uplot@{UPLOT_VERSION}"
UPLOT_NPM_INTEGRITY = "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="
# served name -> (path in the tarball, sha256)
UPLOT_FILES = {
    "uPlot.esm.js": ("package/dist/uPlot.esm.js", "5dd9b3281aa64b461b42d9945f6adb2649d346502b12281a9ae0d46599a80eba"),
    "uPlot.min.css": ("package/dist/uPlot.min.css", "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04"),
    "uPlot-LICENSE": ("package/LICENSE", "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd"),
}


def uplot_files(cache_dir):
    """{served name: path} of uPlot's files, from the cache (checked) or from `npm pack` (checked, then cached)."""
    directory = cache_dir / f"uplot-{UPLOT_VERSION}"
    paths = {name: directory / name for name in UPLOT_FILES}
    if all(path.is_file() and sha256_of(path) == UPLOT_FILES[name][1] for name, path in paths.items()):
        return paths
    with tempfile.TemporaryDirectory() as tmp:
        tarball = npm_pack(UPLOT_NPM_SPEC, UPLOT_NPM_INTEGRITY, tmp, f"put its files in {directory}")
        with tarfile.open(tarball, "r:gz") as tar:
            for name, (member_name, sha256) in UPLOT_FILES.items():
                member = tar.extractfile(member_name)
                if member is None:
                    raise BuildError(f"{tarball.name}: {member_name} is missing")
                data = member.read()
                found = hashlib.sha256(data).hexdigest()
                if found != sha256:
                    raise BuildError(f"{name} from npm {UPLOT_NPM_SPEC}: sha256 mismatch (expected {sha256}, "
                                     f"found {found}); refusing to use it")
                install_file(data, paths[name])
    return paths
