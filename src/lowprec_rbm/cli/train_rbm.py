"""Train a binary-synapse RBM (±1 weights) as a Bernoulli posterior and write a posterior file.

The data are MNIST-format images binarised to ±1 at --threshold; the rule is the Bayesian learning rule
("blr", natural parameters, no clipping) or Huang's clipped mean-field ascent ("huang", Adam). Each epoch
records the lower-bound estimate (CLT data term - M <ln Z_Bethe> - KL), the KL, and BP convergence. With
--ais-every K, every K epochs it also records the test log-likelihood of the MAP-weight model on a fixed subset
of the test images (--ais-samples), with ln Z estimated by annealed importance sampling (--ais-chains chains,
--ais-temperatures temperatures): a number that can be compared with other models' log-likelihoods, unlike
the lower bound. It also checks the bound: the AIS ln Z of 2 weight matrices drawn from the posterior against
the bound's Bethe <ln Z> ("bound overstates by ~X": the gap per sample; a warning above 0.3 nat per hidden
unit). ~15 CPU-s per evaluation at N = 784, P = 100. The bound scores the posterior ensemble and the AIS
figure the MAP weights, a different model: the two need not move together. The dead /
saturated hidden units (MAP bit -1 / +1 on every training pattern) are recorded and printed at the end. Visible
and hidden fields (biases) are learned unless --fields says otherwise.

--discriminative G > 0 trains the hybrid RBM: the bound plus G times the log-likelihood of the training labels
under an auxiliary softmax readout of the expected hidden units, so the hidden MAP bits carry the class (the
readout is dropped; train the deployable classifier on the bits). The per-epoch line then shows that readout's
training accuracy.

Checkpoints: after every epoch the full training state goes to --checkpoint (default OUTPUT.ckpt.npz),
deleted once the output is written. Ctrl-C saves it at the next minibatch and exits with status 130; the same
command with --resume continues and ends with the same bits as an uninterrupted run (same thread count).

examples:
  lowprec train rbm --data sample --hidden 64 --epochs 5 -o posterior.npz
  lowprec train rbm --data sample --hidden 64 --epochs 5 -o posterior.npz --resume     # after Ctrl-C
  lowprec train rbm --data sample --hidden 64 --epochs 5 --ais-every 1 --verbose -o posterior.npz
  lowprec train rbm --data sample --hidden 64 --epochs 5 --discriminative 10 --verbose -o hybrid.npz
"""
from __future__ import annotations

import argparse

from lowprec_rbm.cli import checkpointing, limits
from lowprec_rbm.cli.errors import CLIError
from lowprec_rbm.cli.common import (add_data_argument, data_files, finite_float, nonnegative_int, output_path,
                                     positive_int, refuse_overwriting_inputs)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, type=output_path, help="posterior file to write (.npz)")
    add_data_argument(parser)
    parser.add_argument("--rule", choices=["blr", "huang"], default="blr", help="learning rule (default blr)")
    parser.add_argument("--hidden", type=positive_int, default=64,
                        help="hidden units P (default 64; limit: --max hidden)")
    parser.add_argument("--epochs", type=positive_int, default=5,
                        help="passes over the data (default 5; limit: --max epochs)")
    parser.add_argument("--batch-size", type=positive_int, default=100, help="minibatch size (default 100)")
    parser.add_argument("--lr", type=finite_float(0.0, low_open=True), default=None,
                        help="learning rate: ρ for blr (default: 1/(1 + β² M λmax/N) from the data, ~1.4e-3 "
                             "on the sample), Adam step on m for huang (default 0.01)")
    parser.add_argument("--beta", type=finite_float(0.0, low_open=True), default=1.0,
                        help="inverse temperature β > 0 (default 1; limit: --max beta)")
    parser.add_argument("--n-z", type=positive_int, default=8,
                        help="z-samples for the log-partition term (default 8; limit: --max n-z)")
    parser.add_argument("--partition", choices=["quenched", "annealed"], default="quenched",
                        help="log-partition estimate (default quenched: BP with Gaussian hidden fields)")
    parser.add_argument("--bp-max-iter", type=positive_int, default=200,
                        help="BP iteration cap (default 200; limit: --max bp-iter)")
    parser.add_argument("--bp-damping", type=finite_float(0.0, 1.0, high_open=True), default=0.2,
                        help="BP damping in [0, 1) (default 0.2)")
    parser.add_argument("--fields", choices=["both", "visible", "hidden", "none"], default="both",
                        help="which real fields (biases) to learn (default both; none = the seeds' fieldless "
                             "model)")
    parser.add_argument("--discriminative", type=finite_float(0.0), default=0.0, metavar="G",
                        help="weight G >= 0 of the training labels' log-likelihood in the hybrid objective "
                             "(default 0: the generative RBM)")
    parser.add_argument("--readout-rate", type=finite_float(0.0, low_open=True), default=1e-2,
                        help="with --discriminative: Adam step of the auxiliary label readout (default 0.01)")
    parser.add_argument("--threshold", type=finite_float(0.0, 1.0, low_open=True), default=0.5,
                        help="binarisation threshold on pixel/255, in (0, 1] (default 0.5)")
    parser.add_argument("--limit", type=positive_int, default=None, help="use only the first M training images")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default 0)")
    parser.add_argument("--ais-every", type=nonnegative_int, default=0, metavar="K",
                        help="every K epochs record the AIS test log-likelihood per image (default 0: never)")
    parser.add_argument("--ais-samples", type=positive_int, default=256, metavar="M",
                        help="with --ais-every: test images in the fixed evaluation subset (default 256)")
    parser.add_argument("--ais-chains", type=positive_int, default=100,
                        help="with --ais-every: AIS chains, >= 2 (default 100)")
    parser.add_argument("--ais-temperatures", type=positive_int, default=3000,
                        help="with --ais-every: AIS temperatures, >= 3 (default 3000)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    parser.add_argument("--verbose", action="store_true", help="one summary line per epoch")
    checkpointing.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import warnings
    from functools import partial

    from lowprec_rbm.checkpoint import TrainingInterrupted
    from lowprec_rbm.cli.common import load_data
    from lowprec_rbm.data import binarize
    from lowprec_rbm.progress import log, progress
    from lowprec_rbm.rbm import BinaryRBM

    for flag, name in (("--hidden", "hidden"), ("--epochs", "epochs"), ("--batch-size", "batch"), ("--n-z", "n-z"),
                       ("--bp-max-iter", "bp-iter"), ("--beta", "beta")):
        limits.check(flag, getattr(args, flag[2:].replace("-", "_")), name)
    ckpt_path = checkpointing.checkpoint_path(args)
    refuse_overwriting_inputs({"-o": args.output, "--checkpoint": ckpt_path}, data_files(args.data))
    dataset = load_data(args.data)
    images = dataset.x_train if args.limit is None else dataset.x_train[:args.limit]
    X = binarize(images, args.threshold)
    labels = None
    if args.discriminative > 0:
        labels = dataset.y_train if args.limit is None else dataset.y_train[:args.limit]
    model = BinaryRBM(n_hidden=args.hidden, beta=args.beta, rule=args.rule, learning_rate=args.lr, epochs=args.epochs,
                      batch_size=args.batch_size, n_z=args.n_z, partition=args.partition, random_state=args.seed,
                      bp_max_iter=args.bp_max_iter, bp_damping=args.bp_damping, ais_every=args.ais_every,
                      ais_samples=args.ais_samples, ais_chains=args.ais_chains,
                      ais_temperatures=args.ais_temperatures, visible_fields=args.fields in ("both", "visible"),
                      hidden_fields=args.fields in ("both", "hidden"), discriminative=args.discriminative,
                      readout_rate=args.readout_rate)
    if args.ais_chains < 2:
        raise CLIError(f"--ais-chains must be >= 2 (the AIS error is estimated across chains), got {args.ais_chains}")
    if args.ais_temperatures < 3:
        raise CLIError(f"--ais-temperatures must be >= 3, got {args.ais_temperatures}")
    model._validate_params()
    eval_X = binarize(dataset.x_test[:args.ais_samples], args.threshold) if args.ais_every else None
    data_info = dict(dataset.describe(), binarize_threshold=args.threshold, n_used=int(X.shape[0]),
                     limit=args.limit)
    log(f"{'resuming' if args.resume else 'training'} {args.rule} RBM: N={X.shape[1]} visible, P={args.hidden} "
        f"hidden, M={X.shape[0]} patterns from {dataset.source}, {args.epochs} epochs; checkpoint {ckpt_path}",
        quiet=args.quiet)

    def on_epoch(rec: dict) -> None:
        if args.verbose and not args.quiet:
            conv = "ok" if rec["bp_all_converged"] and rec["lb_bp_converged"] else \
                f"BP: {1 - rec['bp_converged_fraction']:.1%} of runs NOT converged, max residual {rec['bp_residual_max']:.1e}"
            ais = (f"  test ln p/image {rec['ais_log_likelihood']:.2f} ± {rec['ais_log_z_se']:.2f} (AIS, MAP weights; "
                   f"bound overstates by ~{rec['bethe_gap']:.1f} ± {rec['ais_posterior_log_z_se']:.1f}, "
                   f"{rec['ais_seconds']:.1f}s)" if "ais_log_likelihood" in rec else "")
            readout = (f"  label readout train acc {rec['readout_train_acc']:.2%}" if "readout_train_acc" in rec
                       else "")
            log(f"epoch {rec['epoch']:3d}  lower bound/sample {rec['lower_bound_per_sample']:.3f}  "
                f"KL {rec['kl']:.1f}  MAP flips {rec['map_flips']}  dead/saturated hidden {rec['dead_units']}/"
                f"{rec['saturated_units']}  BP iters {rec['bp_iterations_mean']:.1f} "
                f"[{conv}]{readout}{ais}  {rec['seconds']:.1f}s")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            with checkpointing.stop_on_sigint() as stop:
                model.fit(X, labels, eval_X=eval_X, data_info=data_info, on_epoch=on_epoch,
                          progress=partial(progress, quiet=args.quiet), checkpoint=ckpt_path, resume=args.resume,
                          stop=stop)
        except TrainingInterrupted as exc:
            return checkpointing.report_interrupt(exc)
    for w in caught:
        log(f"warning: {w.message}", quiet=args.quiet)
    path = model.save(args.output)
    ckpt_path.unlink(missing_ok=True)
    first, last = model.history_[0], model.history_[-1]
    log(f"learning rate {model.learning_rate_:.3g}; lower bound/sample {first['lower_bound_per_sample']:.3f} "
        f"(epoch 1) -> {last['lower_bound_per_sample']:.3f} (epoch {last['epoch']}); wrote {path}",
        quiet=args.quiet)
    log(hidden_units_line(last, args.hidden, X.shape[0]), quiet=args.quiet)
    scored = [r for r in model.history_ if "ais_log_likelihood" in r]
    if scored:
        r = scored[-1]
        log(f"test log-likelihood per image (AIS, epoch {r['epoch']}, {r['ais_samples']} test images): "
            f"{r['ais_log_likelihood']:.2f} ± {r['ais_log_z_se']:.2f} nats", quiet=args.quiet)
    return 0


def hidden_units_line(record: dict, n_hidden: int, n_patterns: int) -> str:
    """One line on the dead (always -1) and saturated (always +1) hidden units of an epoch record."""
    def units(idx: list) -> str:
        return "" if not idx else f" (units {', '.join(map(str, idx[:12]))}{', ...' if len(idx) > 12 else ''})"

    return (f"hidden units over the {n_patterns} training patterns (MAP bits): {record['dead_units']} of {n_hidden} "
            f"dead (always -1){units(record['dead'])}, {record['saturated_units']} saturated (always +1)"
            f"{units(record['saturated'])}")
