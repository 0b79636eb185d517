"""The TOML parser: the standard library's ``tomllib`` on Python >= 3.11, else ``tomli`` (the package tomllib was
taken from, same API), which pyproject.toml declares as a dependency on Python 3.10 only."""
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:                                     # pragma: no cover - exercised by .ci/min-versions on Python 3.10
    import tomli as tomllib

__all__ = ["tomllib"]
