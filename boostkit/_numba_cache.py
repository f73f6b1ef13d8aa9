"""Where numba caches the compiled kernels: a writable folder, whatever the install.

Every kernel is ``@njit(cache=True)``. numba caches next to the sources (``__pycache__``), else
in the user's cache folder (``~/.cache/numba``), and raises "cannot cache function ... no
locator available" AT DECORATION TIME, i.e. at import, when neither is writable (a read-only
site-packages with a read-only HOME, as in many containers and CI images). This module runs
before any kernel is decorated and, only in that case, points numba's cache at a per-user folder
of the temporary directory. ``NUMBA_CACHE_DIR`` set by the user always wins.

streamml keeps its own copy of this rule (``streamml/_numba_cache.py``): the two packages share
nothing but numpy.
"""

import os
import tempfile

import numba


def _writable(folder):
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()  # the test numba itself makes
    except OSError:
        return False
    return True


def ensure_writable_cache(package_dir):
    """Set ``numba.config.CACHE_DIR`` to a temporary folder when numba could cache nowhere.

    Returns the cache folder it set, or None when numba's own choice works (or the user chose).
    """
    if numba.config.CACHE_DIR or os.environ.get("NUMBA_CACHE_DIR"):
        return None
    if _writable(os.path.join(package_dir, "__pycache__")):
        return None
    try:  # numba's own user-wide cache location
        from numba.misc.appdirs import AppDirs

        user_wide = AppDirs(appname="numba", appauthor=False).user_cache_dir
    except ImportError:
        user_wide = os.path.join(os.path.expanduser("~"), ".cache", "numba")
    if _writable(user_wide):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    folder = os.path.join(tempfile.gettempdir(), f"numba-cache-{uid}")
    if not _writable(folder):
        return None  # nowhere to write: numba's own error tells the user to set NUMBA_CACHE_DIR
    numba.config.CACHE_DIR = folder
    return folder
