"""Argument types and arguments shared by several ``lowprec`` commands (checked at parse time, before any work),
and the checks every command that writes files runs before it starts (outputs never overwrite inputs)."""
from __future__ import annotations

import argparse
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from lowprec_rbm.cli.errors import CLIError

__all__ = ["positive_int", "nonnegative_int", "finite_float", "output_path", "output_folder",
           "add_data_argument", "data_files", "refuse_overwriting_inputs", "add_trust_arguments", "artifact_trust",
           "sign_key", "load_data"]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0 (seeds, step counts that may be zero)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def finite_float(low: float | None = None, high: float | None = None, *, low_open: bool = False,
                 high_open: bool = False):
    """argparse type factory: a finite float in the interval [low, high] (ends open when asked)."""
    lo_b, hi_b = "(" if low_open else "[", ")" if high_open else "]"
    span = f"{lo_b}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{hi_b}"

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if low is not None and (value < low or (low_open and value == low)) or \
                high is not None and (value > high or (high_open and value == high)):
            raise argparse.ArgumentTypeError(f"expected a number in {span}, got {value:g}")
        return value

    convert.__name__ = "number"   # argparse names the type in its messages
    return convert


def output_path(text: str) -> str:
    """argparse type: a file to be written, whose folder exists and is writable — checked before training or
    exporting starts, so a typo in the path does not throw away minutes of work."""
    path = Path(text)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file name")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: folder {str(folder)!r} is not writable")
    return text


def output_folder(text: str) -> str:
    """argparse type: a folder to write into (created later when missing). Refused when the name or one of its
    parents is an existing file, or when the nearest existing parent is not writable."""
    path = Path(text)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "is a file" if p == path else f"has a file {str(p)!r} in its path"
                raise argparse.ArgumentTypeError(f"cannot write into folder {text!r}: it {what}; expected a folder")
            if not os.access(p, os.W_OK):
                raise argparse.ArgumentTypeError(f"cannot write into folder {text!r}: {str(p)!r} is not writable")
            break
    return text


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def refuse_overwriting_inputs(outputs, inputs) -> None:
    """CLIError when a file about to be written is one of the command's inputs (same resolved path, or the
    same inode, e.g. through a link). ``outputs`` / ``inputs``: a dict or a list of (description: a flag or
    argument name, path) pairs; None paths are ignored. Callers pass the files they will write, by name."""
    pairs = lambda x: list(x.items()) if isinstance(x, dict) else list(x)  # noqa: E731
    ins = [(what, Path(os.fspath(p))) for what, p in pairs(inputs) if p is not None]
    for what_out, out in pairs(outputs):
        if out is None:
            continue
        o = Path(os.fspath(out))
        for what_in, i in ins:
            if _same_file(o, i):
                raise CLIError(f"{what_out} {str(o)!r} is the same file as {what_in} {str(i)!r}; writing it would "
                               f"destroy the input: choose another output name")


def data_files(data: str | None) -> dict[str, str]:
    """The files a ``--data`` folder provides (for the output-is-an-input check); nothing for the built-in
    sources, whose files a user does not name."""
    if data is None or data in ("sample", "debian") or not Path(data).is_dir():
        return {}
    from lowprec_rbm.data.datasets import _FILES

    found = {}
    for stem in _FILES.values():
        for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
            if (Path(data) / name).is_file():
                found[f"--data file {name}"] = str(Path(data) / name)
    return found


def add_data_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--data``: the embedded sample, Debian's Fashion-MNIST, or a folder of MNIST-format IDX files."""
    parser.add_argument("--data", default=default,
                        help="'sample' (embedded 2,000 images), 'debian' (Fashion-MNIST from Debian) or a folder "
                             "of MNIST-format IDX files (default: debian when installed, else sample)")


def load_data(spec: str | None, flag: str = "--data", classes=None):
    """``lowprec_rbm.load_dataset(spec)`` for the value of ``flag``; Debian's files asked for but not installed
    are an error naming the flag (the library's message names its ``data`` argument)."""
    from lowprec_rbm.data import datasets

    if spec is not None and str(spec) == "debian" and not datasets.DEBIAN_FASHION_MNIST.is_dir():
        raise CLIError(f"{flag} debian: {datasets.DEBIAN_FASHION_MNIST} not found: install Debian's package with "
                       f"'apt-get install dataset-fashion-mnist', or pass {flag} DIR or {flag} sample")
    return datasets.load_dataset(spec, classes=classes)


def add_trust_arguments(parser: argparse.ArgumentParser) -> None:
    """``--allow-modified`` and ``--verify-key``: what a command reading exported models accepts (keywords of
    ``export.onnx.load_artifact``; see the README section "Integrity"). The Gibbs-step limit of the files read
    is the ``gibbs-steps`` limit of ``lowprec --max`` (``lowprec_rbm.cli.limits``)."""
    g = parser.add_argument_group("integrity of the model files")
    g.add_argument("--allow-modified", action="store_true",
                   help="accept model files whose content digest is missing (older exports) or does not match "
                        "(edited or corrupt files), with a warning; the consistency checks still run")
    g.add_argument("--verify-key", metavar="FILE", default=None,
                   help="require a keyed signature (HMAC-SHA256, from 'lowprec export --sign-key') made with the "
                        "key in FILE; a file without one, or signed with another key, is refused")


@contextmanager
def artifact_trust(args: argparse.Namespace):
    """Apply the integrity arguments to every model file read inside the block (targets included).

    Prints one loud warning when --allow-modified is given and one line per accepted file that would have
    been refused; maps the loader's keyword names in error messages to this command's flags.
    """
    import warnings

    from export.digest import read_key_file
    from export.errors import ArtifactIntegrityError, ArtifactIntegrityWarning, ArtifactLimitError, SignatureError
    from export.onnx import load_policy
    from lowprec_rbm.cli.limits import limit

    key = read_key_file(args.verify_key, "--verify-key file") if args.verify_key is not None else None
    if args.allow_modified and key is not None:
        raise ValueError("--allow-modified and --verify-key contradict each other: a signed file must be unmodified")
    if args.allow_modified:
        print("lowprec: WARNING: --allow-modified: model files whose content digest is missing or does not match "
              "are accepted; an edited or corrupt file can give wrong results", file=sys.stderr)
    seen: set[str] = set()
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, ArtifactIntegrityWarning):
            return shown(message, category, filename, lineno, file, line)
        text = str(message).replace("check_digest=False", "--allow-modified")
        if text not in seen:   # targets reopen the same file: one line per file and problem
            seen.add(text)
            print(f"lowprec: WARNING: {text}", file=sys.stderr)
        return None

    with warnings.catch_warnings():
        warnings.simplefilter("always", ArtifactIntegrityWarning)
        warnings.showwarning = show
        try:
            with load_policy(check_digest=not args.allow_modified, verify_key=key,
                             max_gibbs_steps=int(limit("gibbs-steps"))):
                yield
        except SignatureError as exc:
            from export.digest import SIGN_HINT

            raise SignatureError(str(exc).replace(SIGN_HINT, "sign it when exporting (lowprec export --sign-key FILE)")
                                 ) from None
        except ArtifactIntegrityError as exc:
            raise ArtifactIntegrityError(str(exc).replace("check_digest=False", "--allow-modified")) from None
        except ArtifactLimitError as exc:
            raise ArtifactLimitError(f"{exc}; if you mean it, raise the limit: lowprec --max gibbs-steps=N ...") from None


def sign_key(path: str | None) -> bytes | None:
    """The signing key of ``lowprec export``: from --sign-key FILE, else from $LOWPREC_SIGN_KEY_FILE, else None."""
    from export.digest import SIGN_KEY_ENV, read_key_file

    if path is not None:
        return read_key_file(path, "--sign-key file")
    env = os.environ.get(SIGN_KEY_ENV)
    if env:
        return read_key_file(env, f"${SIGN_KEY_ENV} file")
    return None
