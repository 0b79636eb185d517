"""Train a feed-forward classifier with ±1 (BayesBiNN, STE), ternary (variational inference) or real (Adam)
weights on MNIST-format images and write a posterior file (kind "mlp").

A random --val-fraction of the training images (10%: 6,000 of Fashion-MNIST's 60,000; drawn with a generator
seeded from --seed, so the same seed holds out the same images) is held out for validation; every epoch prints
the loss, train and validation accuracy (NLL and ECE of the deployable network), posterior statistics (|λ|
median and mean entropy; ternary sparsity) and seconds. The test set is evaluated after training (deployable
network, and posterior mean over --test-samples sampled networks).

Classes: the network's output units are the labels present in the training images, in increasing order
(recorded as `classes` in the posterior and carried into exports); a label absent from training is never
predicted. Labels must be among the classes the data declares (--classes; default 0..9 for the sample and
Debian's Fashion-MNIST, the training file's labels for a folder): a label outside is an error naming the file
and index. Test images whose label the network lacks count as wrong, with a warning.

Checkpoints: after every epoch the full training state goes to --checkpoint (default OUTPUT.ckpt.npz),
deleted once the output is written. Ctrl-C saves it at the next minibatch and exits with status 130; the same
command with --resume continues and ends with the same bits as an uninterrupted run (same thread count).

Rules: bayesbinn (natural parameters λ, Bernoulli posterior), ste (latent weights, sign forward, Adam, clip),
adam (full precision), ternary-vi (categorical posterior over {-1, 0, +1}, probabilistic forward pass; needs
--activation sign). Rule hyper-parameters: --set name=value (repeatable), e.g. --set kl_weight=0.01
--set estimator=published --set p_zero=0.6; see lowprec_rbm.nn.mlp.RULE_DEFAULTS.

examples:
  lowprec train mlp --data sample --rule bayesbinn -o bw.npz
  lowprec train mlp --data sample --rule ste --activation sign --input bitplanes -o bin.npz
  lowprec train mlp --data debian --rule ternary-vi --activation sign --set p_zero=0.6 --epochs 30 -o tern.npz
  lowprec train mlp --data debian --rule ternary-vi --activation sign --set p_zero=0.6 --epochs 30 -o tern.npz --resume
"""
from __future__ import annotations

import argparse

from lowprec_rbm.cli import checkpointing, limits
from lowprec_rbm.cli.common import (add_data_argument, data_files, finite_float, nonnegative_int, output_path,
                                     positive_int, refuse_overwriting_inputs)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


def _hidden_sizes(text: str) -> str:
    """argparse type: comma-separated positive layer sizes (or empty: no hidden layer); the text is kept.
    The rule is ``lowprec_rbm.nn.network.parse_hidden``'s, applied at parse time."""
    from lowprec_rbm.nn.network import parse_hidden

    try:
        parse_hidden(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    return text


def configure(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, activation="relu")
    parser.add_argument("--hidden", default="1024,1024", type=_hidden_sizes,
                        help="hidden sizes, comma-separated (default 1024,1024; limits: --max hidden, --max layers)")


def add_common_arguments(parser: argparse.ArgumentParser, activation: str) -> None:
    """The options every ``lowprec train`` classifier command shares (all but the architecture)."""
    from lowprec_rbm.nn.classifier import RULES

    parser.add_argument("-o", "--output", required=True, type=output_path, help="posterior file to write (.npz)")
    parser.add_argument("--rule", choices=list(RULES), default="bayesbinn",
                        help="learning rule (default bayesbinn)")
    add_data_argument(parser)
    parser.add_argument("--activation", choices=["relu", "sign"], default=activation,
                        help=f"hidden activation (default {activation}; sign = XNOR-ready, needed by ternary-vi)")
    parser.add_argument("--input", choices=["real", "binary", "bitplanes"], default="real",
                        help="first-layer input: pixel/255, ±1 pixels at --threshold, or exact 8-bit integers")
    parser.add_argument("--threshold", type=finite_float(0.0, 1.0, low_open=True), default=0.5,
                        help="binarisation threshold on pixel/255 for --input binary (default 0.5; on "
                        "Fashion-MNIST 0.02, chosen on validation, is 4 points better: see README)")
    parser.add_argument("--epochs", type=positive_int, default=10,
                        help="passes over the data (default 10; limit: --max epochs)")
    parser.add_argument("--batch-size", type=positive_int, default=100, help="minibatch size (default 100)")
    parser.add_argument("--lr", type=finite_float(0.0, low_open=True), default=None,
                        help="initial learning rate > 0 (default: the rule's)")
    parser.add_argument("--schedule", choices=["cosine", "constant"], default="cosine",
                        help="learning-rate schedule over epochs (default cosine)")
    parser.add_argument("--set", dest="params", action="append", default=[], metavar="NAME=VALUE",
                        help="rule hyper-parameter (repeatable), e.g. kl_weight=0.01, p_zero=0.6")
    parser.add_argument("--dropout", type=_fraction, default=0.0, help="dropout before hidden layers (default 0)")
    parser.add_argument("--input-dropout", type=_fraction, default=0.0, help="dropout on the input (default 0)")
    parser.add_argument("--bn-momentum", type=finite_float(0.0, 1.0), default=0.15,
                        help="BN running-average momentum in [0, 1] (0.15)")
    parser.add_argument("--bn-eps", type=finite_float(0.0, low_open=True), default=1e-4,
                        help="BN epsilon > 0 (default 1e-4)")
    parser.add_argument("--val-fraction", type=_fraction, default=0.1,
                        help="fraction of the training images held out for validation, drawn at random with "
                             "--seed (default 0.1)")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use only the first M training images (before the validation split)")
    parser.add_argument("--classes", default=None, metavar="N|A,B,...",
                        help="the classes the data declares: N (labels 0..N-1) or a list; any label outside is "
                             "an error (default: 0..9 for sample/debian, the training file's labels for a "
                             "folder). The network's classes are the labels present in training")
    parser.add_argument("--test-samples", type=positive_int, default=10,
                        help="networks sampled for the posterior-mean predictor (default 10; limit: --max "
                             "test-samples)")
    parser.add_argument("--logit-scale", choices=["learned", "fixed"], default="learned",
                        help="learn one positive output scale γ (calibrated probabilities; argmax unchanged) or "
                             "keep γ = 1 as the published architecture (default learned)")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    checkpointing.add_arguments(parser)


def _parse_params(items: list[str]) -> dict:
    import json

    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
        name, text = item.split("=", 1)
        name = name.strip()
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text            # a bare word, e.g. estimator=published
        out[name] = value
    return out


def _split(n: int, fraction: float, seed: int):
    """Indices (train, validation) of a random hold-out of round(fraction * n) images, drawn from a generator
    seeded from ``seed`` on its own stream (the model's streams are separate), each in file order."""
    import numpy as np

    n_val = int(round(fraction * n))
    perm = np.random.default_rng([int(seed), _SPLIT_STREAM]).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


_SPLIT_STREAM = 0x5B11   # second entropy word of the validation split's generator


def _class_summary(labels, index, source: str) -> tuple[str, list[str]]:
    """Startup text for the training classes, and warnings for classes with suspiciously few images (a
    corrupt label byte, or a class nearly missing): a single image, or fewer than 5 % of the mean count."""
    import numpy as np

    classes, first, counts = np.unique(labels, return_index=True, return_counts=True)
    if np.array_equal(classes, np.arange(len(classes))):
        text = f"classes 0..{len(classes) - 1}"
    else:
        text = f"classes {classes.tolist()}"
    rare = counts < max(2.0, 0.05 * counts.mean())
    notes = [f"warning: label {int(c)} has only {int(k)} training image{'s' if k > 1 else ''} (first at index "
             f"{int(index[i])} of {source}'s training labels); pass --classes to reject labels outside the "
             "intended classes" for c, k, i, r in zip(classes, counts, first, rare) if r]
    return text, notes


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from lowprec_rbm.nn import MLPClassifier
    from lowprec_rbm.nn.network import parse_hidden

    sizes = [int(t) for t in args.hidden.split(",") if t.strip()]
    limits.check("--hidden (number of layers)", len(sizes), "layers")
    limits.check("--hidden", max(sizes, default=None), "hidden")

    def build(common: dict):
        return MLPClassifier(hidden=args.hidden, **common)

    def describe(x, n_out: int) -> str:
        return f"MLP {'-'.join(map(str, [int(np.prod(x.shape[1:])), *parse_hidden(args.hidden), n_out]))}"

    return train(args, build, describe)


def train(args: argparse.Namespace, build, describe) -> int:
    """The shared body of the classifier training commands: limits, data, split, fit with checkpoints, test,
    save. ``build(common_kwargs)`` makes the model; ``describe(x_train, n_classes)`` names its architecture."""
    import warnings

    import numpy as np

    from lowprec_rbm.checkpoint import TrainingInterrupted
    from lowprec_rbm.data import load_dataset
    from lowprec_rbm.progress import log

    for flag, name in (("--epochs", "epochs"), ("--batch-size", "batch"), ("--test-samples", "test-samples")):
        limits.check(flag, getattr(args, flag[2:].replace("-", "_")), name)
    ckpt_path = checkpointing.checkpoint_path(args)
    refuse_overwriting_inputs({"-o": args.output, "--checkpoint": ckpt_path}, data_files(args.data))
    dataset = load_dataset(args.data, classes=args.classes)
    x, y = dataset.x_train, dataset.y_train
    if args.limit is not None:
        x, y = x[:args.limit], y[:args.limit]
    train_idx, val_idx = _split(x.shape[0], args.val_fraction, args.seed)
    n_train, n_val = len(train_idx), len(val_idx)
    if n_train < args.batch_size:
        raise ValueError(f"only {n_train} training images after holding out {n_val} for validation; "
                         f"need at least --batch-size={args.batch_size}")
    common = dict(activation=args.activation, input_encoding=args.input, threshold=args.threshold, rule=args.rule,
                  learning_rate=args.lr, rule_params=_parse_params(args.params), schedule=args.schedule,
                  epochs=args.epochs, batch_size=args.batch_size, bn_eps=args.bn_eps, bn_momentum=args.bn_momentum,
                  dropout=args.dropout, input_dropout=args.input_dropout, test_samples=args.test_samples,
                  logit_scale=args.logit_scale, random_state=args.seed, verbose=not args.quiet)
    if getattr(args, "bn_calib", None) is not None:
        common["bn_calib"] = args.bn_calib
    model = build(common)
    classes_text, notes = _class_summary(y[train_idx], train_idx, dataset.source)
    n_out = len(np.unique(y[train_idx]))
    log(f"{'resuming' if args.resume else 'training'} {args.rule} {describe(x, n_out)} "
        f"({args.activation}, {args.input} input; {classes_text}) on {n_train} images from {dataset.source}, "
        f"{n_val} held out at random, {args.epochs} epochs; checkpoint {ckpt_path}", quiet=args.quiet)
    for note in notes:
        log(note, quiet=args.quiet)
    data_info = dict(dataset.describe(), n_train_used=n_train, n_val=n_val, limit=args.limit,
                     val_fraction=args.val_fraction, val_split=f"random, seeded from --seed {args.seed}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            with checkpointing.stop_on_sigint() as stop:
                model.fit(x[train_idx], y[train_idx], x[val_idx] if n_val else None,
                          y[val_idx] if n_val else None,
                          checkpoint=ckpt_path, resume=args.resume, run_config={"data": data_info}, stop=stop)
        except TrainingInterrupted as exc:
            return checkpointing.report_interrupt(exc)
    for w in caught:
        log(f"warning: {w.message}", quiet=args.quiet)
    final: dict = {}
    modes = ["map"] + (["mean"] if model.learner_.bayesian else [])
    for mode in modes:
        s = final[f"test_{mode}"] = model.evaluate(dataset.x_test, dataset.y_test, mode=mode)
        log(f"test ({mode}{'' if mode == 'map' else f' of {args.test_samples}'}): accuracy "
            f"{100 * s['acc']:.2f}%  NLL {s.get('nll', float('nan')):.4f}  ECE {s.get('ece', float('nan')):.4f}",
            quiet=args.quiet)
    unknown = final["test_map"].get("unknown_class", 0)
    if unknown:
        missing = sorted(set(dataset.y_test.tolist()) - set(model.classes_.tolist()))
        log(f"warning: {unknown} of {len(dataset.y_test)} test images have labels {missing} that training never "
            "saw; the network cannot predict them and they count as wrong (NLL/ECE leave them out)",
            quiet=args.quiet)
    path = model.save(args.output, extra={"config": {"data": data_info}, "final": final})
    ckpt_path.unlink(missing_ok=True)
    log(f"wrote {path}", quiet=args.quiet)
    return 0
