"""sw-build.js: the build that the page's service worker (web/sw.js) keeps for offline use.

It lists every file of the site, the page's own (index.html, *.js, style.css) and what
build_wasm.py generated (runtime, wheels, models, test set, build.json), each with its sha256,
and names the build by a hash of that list. sw.js imports it, so a new build is a new service
worker to the browser: it fills a cache named after the new build (checking each file's sha256
on the way in), then deletes the old build's cache, and files of two builds are never mixed.
It is written after everything else, since it covers every file.
"""

import hashlib
import json

from .verify import install_file, sha256_of

OFFLINE_MANIFEST_NAME = "sw-build.js"
SERVICE_WORKER_NAME = "sw.js"
BUILD_ID_CHARS = 16  # of the hex sha256 of the file list: the cache's name


def site_files(out_dir):
    """Every file the site serves, as "dir/name" -> sha256, apart from the service worker and this manifest
    (the browser keeps those itself), hidden files and Python caches."""
    files = {}
    for path in sorted(out_dir.rglob("*")):
        parts = path.relative_to(out_dir).parts
        name = "/".join(parts)
        if (not path.is_file() or name in (SERVICE_WORKER_NAME, OFFLINE_MANIFEST_NAME)
                or any(part.startswith(".") or part == "__pycache__" for part in parts)):
            continue
        files[name] = sha256_of(path)
    return files


def write_offline_manifest(out_dir):
    """Write out_dir/sw-build.js (self.SITE_BUILD = {id, files: {path: sha256}}); return that dict."""
    files = site_files(out_dir)
    listing = json.dumps(files, sort_keys=True).encode()
    build = {"id": hashlib.sha256(listing).hexdigest()[:BUILD_ID_CHARS], "files": files}
    text = ("// Written by build_wasm.py (sitebuild/offline.py): the build sw.js caches. Do not edit.\n"
            f"self.SITE_BUILD = {json.dumps(build, indent=1, sort_keys=True)};\n")
    install_file(text.encode(), out_dir / OFFLINE_MANIFEST_NAME)
    return build
