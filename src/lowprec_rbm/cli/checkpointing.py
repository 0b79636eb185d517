"""Checkpoints and Ctrl-C for the ``lowprec train ...`` commands (``--checkpoint``, ``--resume``).

A training command writes its checkpoint (:mod:`lowprec_rbm.checkpoint`) after every epoch, and deletes it once
the output file is written. The first Ctrl-C (SIGINT) asks the training loop to stop at the next minibatch
boundary: it saves the checkpoint there and the command exits with status 130 after one line saying where the
checkpoint is and how to continue; a second Ctrl-C stops at once (the last epoch's checkpoint stays).
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from lowprec_rbm.cli.common import output_path

__all__ = ["add_arguments", "checkpoint_path", "stop_on_sigint", "report_interrupt", "EXIT_INTERRUPTED"]

EXIT_INTERRUPTED = 130   # 128 + SIGINT, what a shell reports for a process stopped by Ctrl-C


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", metavar="PATH", type=output_path, default=None,
                        help="checkpoint written atomically after every epoch and on Ctrl-C, deleted once the "
                             "output is written (default: OUTPUT.ckpt.npz beside the output)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from its checkpoint; the settings must be the same, "
                             "and the result equals an uninterrupted run's bit for bit (same thread count)")


def checkpoint_path(args: argparse.Namespace) -> Path:
    """The run's checkpoint; with ``--resume`` it must exist, without it it must not (an interrupted run's
    progress is never overwritten by accident)."""
    from lowprec_rbm.checkpoint import default_path

    path = Path(args.checkpoint) if args.checkpoint else default_path(args.output)
    if path.resolve() == Path(args.output).resolve():
        raise ValueError(f"--checkpoint must differ from --output (both are {str(path)!r})")
    if args.resume and not path.is_file():
        raise ValueError(f"--resume: no checkpoint at {str(path)!r} (the default is OUTPUT.ckpt.npz; pass "
                         "--checkpoint PATH if the interrupted run used another)")
    if not args.resume and path.exists():
        raise ValueError(f"checkpoint {str(path)!r} exists from an interrupted run: add --resume to continue it, "
                         "or delete it to start over")
    return path


@contextmanager
def stop_on_sigint() -> Iterator[Callable[[], bool]]:
    """Within the block, the first SIGINT only sets a flag (returned as a callable the loop polls); a second
    one raises KeyboardInterrupt as usual. Outside the main thread signals cannot be caught: nothing changes."""
    requested = [False]
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def handler(signum, frame):
        if requested[0]:
            raise KeyboardInterrupt
        requested[0] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: requested[0]
    finally:
        signal.signal(signal.SIGINT, previous)


def report_interrupt(exc) -> int:
    """The one line for an interrupted run (a ``TrainingInterrupted``); returns the exit status 130."""
    print(f"lowprec: interrupted in epoch {exc.epoch + 1}/{exc.epochs} after step {exc.step}/{exc.steps}; "
          f"checkpoint saved to {exc.path}; to continue, run the same command with --resume", file=sys.stderr)
    return EXIT_INTERRUPTED
