"""Imported first by the scripts beside it: exits with the install hint, instead of a traceback, when Debian's
scientific Python packages are missing (they are not needed by GestaltLab itself, only by these benchmarks)."""
import importlib.util
import sys

_missing = [m for m in ("numpy", "sklearn") if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(f"{sys.argv[0]}: Python module(s) {', '.join(_missing)} missing; install them with "
             "`bash environment/setup.sh --bench` (Debian python3-numpy, python3-sklearn)")
