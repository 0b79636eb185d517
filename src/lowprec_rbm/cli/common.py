"""Argument types and arguments shared by several ``lowprec`` commands (checked at parse time, before any work)."""
from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path

__all__ = ["positive_int", "nonnegative_int", "output_path", "add_data_argument", "add_trust_arguments",
           "artifact_trust", "sign_key"]

# The loader's default (export.onnx.DEFAULT_MAX_GIBBS_STEPS), repeated so --help needs no heavy import;
# tests/test_integrity.py checks that the two agree.
DEFAULT_MAX_GIBBS_STEPS = 10_000


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
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


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


def add_data_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--data``: the embedded sample, Debian's Fashion-MNIST, or a folder of MNIST-format IDX files."""
    parser.add_argument("--data", default=default,
                        help="'sample' (embedded 2,000 images), 'debian' (Fashion-MNIST from Debian) or a folder "
                             "of MNIST-format IDX files (default: debian when installed, else sample)")


def add_trust_arguments(parser: argparse.ArgumentParser) -> None:
    """``--allow-modified``, ``--verify-key`` and ``--max-gibbs-steps``: what a command reading exported models
    accepts (the keywords of ``export.onnx.load_artifact``; see the README section "Integrity")."""
    g = parser.add_argument_group("integrity of the model files")
    g.add_argument("--allow-modified", action="store_true",
                   help="accept model files whose content digest is missing (older exports) or does not match "
                        "(edited or corrupt files), with a warning; the consistency checks still run")
    g.add_argument("--verify-key", metavar="FILE", default=None,
                   help="require a keyed signature (HMAC-SHA256, from 'lowprec export --sign-key') made with the "
                        "key in FILE; a file without one, or signed with another key, is refused")
    g.add_argument("--max-gibbs-steps", type=nonnegative_int, default=DEFAULT_MAX_GIBBS_STEPS, metavar="N",
                   help=f"refuse RBM files that run more Gibbs steps (memory and time grow with them); "
                        f"default {DEFAULT_MAX_GIBBS_STEPS:,}")


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
                             max_gibbs_steps=args.max_gibbs_steps):
                yield
        except SignatureError:
            raise
        except ArtifactIntegrityError as exc:
            raise ArtifactIntegrityError(str(exc).replace("check_digest=False", "--allow-modified")) from None
        except ArtifactLimitError as exc:
            raise ArtifactLimitError(f"{exc} (--max-gibbs-steps N)") from None


def sign_key(path: str | None) -> bytes | None:
    """The signing key of ``lowprec export``: from --sign-key FILE, else from $LOWPREC_SIGN_KEY_FILE, else None."""
    from export.digest import SIGN_KEY_ENV, read_key_file

    if path is not None:
        return read_key_file(path, "--sign-key file")
    env = os.environ.get(SIGN_KEY_ENV)
    if env:
        return read_key_file(env, f"${SIGN_KEY_ENV} file")
    return None
