"""The ``boostkit`` command line (also ``python -m boostkit``).

Subcommands:

``boostkit warmup [--quiet]``
    Compile and cache every numba kernel now, instead of on each first call (see
    :mod:`boostkit.warmup`).

``boostkit audit --model FILE --data CSV --target COLUMN [--test CSV] [--out report.html]``
    Influence audit of a saved tree model on its training data: the training rows most likely
    mislabeled or harmful, and for the worst test predictions the most helpful and harmful
    training rows, written as one self-contained HTML file (see :func:`boostkit.influence.audit`).
    With ``--data`` a parquet file or folder, or ``--scheduler ADDRESS``, the training data is
    read with Dask and stays partitioned on the cluster's workers (BoostIn only).

Exit status: 0 on success, 2 with a one-line error on bad input (``--debug`` shows the
traceback), 1 on an unexpected internal error.
"""

from __future__ import annotations

import argparse
import re
import sys
import traceback
from pathlib import Path

__all__ = ["main", "load_model", "MODEL_FORMATS"]

# format -> (how to recognise it, the class it is loaded as)
MODEL_FORMATS = {
    "lightgbm": ("LightGBM text model from booster.save_model (.txt)", "lightgbm.Booster"),
    "xgboost": ("XGBoost model from save_model (.json or .ubj)", "xgboost.Booster"),
    "catboost": ("CatBoost model from save_model (.cbm)", "catboost.CatBoost"),
    "pickle": ("pickled or joblib-dumped scikit-learn / LightGBM / XGBoost / CatBoost model "
               "(.pkl, .pickle, .joblib)", "the pickled object"),
}
_EXTENSIONS = {".txt": "lightgbm", ".json": "xgboost", ".ubj": "xgboost", ".cbm": "catboost",
               ".pkl": "pickle", ".pickle": "pickle", ".joblib": "pickle"}
# First bytes of joblib's compressed dumps: zlib, gzip, bz2, xz, lz4.
_COMPRESSED = (b"x\x01", b"x\x5e", b"x\x9c", b"x\xda", b"\x1f\x8b", b"BZh", b"\xfd7zXZ",
               b"\x04\x22\x4d\x18")


# Self-influence values drawn in the Dask route's histogram (a systematic sample beyond).
_HISTOGRAM_ROWS = 1_000_000


class CommandLineError(Exception):
    """Bad input on the command line: printed as one line, exit status 2."""


def _accepted_formats():
    return "; ".join(desc for desc, _ in MODEL_FORMATS.values())


def _sniff(head):
    """The model format from a file's first bytes, or None."""
    if head.startswith(b"tree\n") or head.startswith(b"tree\r\n"):
        return "lightgbm"
    if head.startswith(b"CBM1"):
        return "catboost"
    if head[:1] == b"{":  # JSON ('{"') or UBJSON ('{' then a type marker such as 'L', 'i')
        return "xgboost"
    if head[:1] == b"\x80" or head.startswith(_COMPRESSED):
        return "pickle"
    return None


def model_format(path):
    """The format of a saved model file: by extension, else (ambiguous) by its first bytes.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    str
        A key of :data:`MODEL_FORMATS`.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "model.bin")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"CBM1....")
    >>> model_format(path)
    'catboost'
    """
    path = Path(path)
    if not path.is_file():
        raise CommandLineError(f"--model: no such file: {path}")
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        with open(path, "rb") as f:
            fmt = _sniff(f.read(16))
    if fmt is None:
        raise CommandLineError(
            f"--model: cannot tell the format of {path} (extension {path.suffix or 'none'!r}, "
            f"unrecognised content); accepted: {_accepted_formats()}")
    return fmt


def load_model(path):
    """Load a saved tree model from a file in any of :data:`MODEL_FORMATS`.

    LightGBM text files become ``lightgbm.Booster``, XGBoost ``.json`` / ``.ubj`` files
    ``xgboost.Booster``, CatBoost ``.cbm`` files ``catboost.CatBoost`` and pickles / joblib
    dumps the pickled object. Only unpickle files you trust: unpickling runs code.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    model

    Examples
    --------
    >>> import os, tempfile
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.txt")
    >>> _ = model.booster_.save_model(path)
    >>> type(load_model(path)).__name__
    'Booster'
    """
    fmt = model_format(path)
    try:
        if fmt == "lightgbm":
            import lightgbm as lgb

            return lgb.Booster(model_file=str(path))
        if fmt == "xgboost":
            import xgboost as xgb

            booster = xgb.Booster()
            # From the bytes: XGBoost tells JSON from UBJSON itself, whatever the extension.
            booster.load_model(bytearray(Path(path).read_bytes()))
            return booster
        if fmt == "catboost":
            import catboost

            return catboost.CatBoost().load_model(str(path))
        import joblib

        return joblib.load(path)
    except ImportError as err:
        hint = ' (pip install "boostkit[catboost]")' if fmt == "catboost" else ""
        raise CommandLineError(f"--model: {path} is a {fmt} model but {err.name} is not "
                               f"installed{hint}") from err
    except Exception as err:  # noqa: BLE001 -- each library raises its own error types
        message = " ".join(str(err).split())[:300]
        raise CommandLineError(
            f"--model: could not read {path} as a {MODEL_FORMATS[fmt][0]}: "
            f"{type(err).__name__}: {message}") from err


def _read_csv(path, option, target, index_column):
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise CommandLineError(f"{option}: no such file: {path}")
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise CommandLineError(f"{option}: could not read {path} as CSV: {err}") from err
    return _split_target(frame, path, option, target, index_column)


def _split_target(frame, path, option, target, index_column):
    """(features, target) of a table read from ``path``: string column names, the optional
    index column as the index, the target column popped; errors name the option and file."""
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if index_column is not None:
        if index_column not in columns:
            raise CommandLineError(f"--index-column: column {index_column!r} is not in {path}; "
                                   f"its columns are {columns[:20]}")
        frame = frame.set_index(index_column)
    if target not in frame.columns:
        listed = [c for c in columns if c != index_column]
        raise CommandLineError(f"--target: column {target!r} is not in {path}; its columns "
                               f"are {listed[:20]}{' ...' if len(listed) > 20 else ''}")
    y = frame.pop(target)
    if len(frame) == 0:
        raise CommandLineError(f"{option}: {path} has no rows")
    return frame, y


def _match_features(X, ensemble, option, path):
    """X with the model's feature columns in the model's order, or a clear error.

    Models without feature names are matched by column count and get a plain array (libraries
    such as XGBoost refuse named columns for a model fitted without names).
    """
    names = ensemble.feature_names
    if names is None:
        if X.shape[1] != ensemble.n_features:
            raise CommandLineError(
                f"{option}: {path} has {X.shape[1]} feature columns besides the target, but "
                f"the model expects {ensemble.n_features} (it has no feature names, so the "
                f"columns are taken in order)")
        return X if type(X).__module__.startswith("dask") else X.to_numpy()
    if getattr(ensemble, "whitespace_in_names_as_underscore", False):
        model_name = {re.sub(r"\s", "_", c): c for c in X.columns}
    else:
        model_name = {c: c for c in X.columns}
    missing = [c for c in names if c not in model_name]
    extra = [model_name[c] for c in model_name if c not in names]
    if missing or extra:
        raise CommandLineError(
            f"{option}: the feature columns of {path} do not match the model's: missing "
            f"{missing[:10]}{' ...' if len(missing) > 10 else ''}, unexpected "
            f"{extra[:10]}{' ...' if len(extra) > 10 else ''} (the model has {len(names)} "
            f"features; every other column than the target must be one of them)")
    return X[[model_name[c] for c in names]]


def _is_dask_route(args):
    path = Path(args.data)
    return args.scheduler is not None or path.is_dir() or path.suffix.lower() in (
        ".parquet", ".pq")


def _read_table(path, option, target, index_column):
    """A CSV or parquet file in memory (the test data of the Dask route)."""
    if Path(path).suffix.lower() not in (".parquet", ".pq"):
        return _read_csv(path, option, target, index_column)
    import pandas as pd

    if not Path(path).is_file():
        raise CommandLineError(f"{option}: no such file: {path}")
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as err:
        raise CommandLineError(f"{option}: could not read {path} as parquet: {err}") from err
    return _split_target(frame, path, option, target, index_column)


def _connect(scheduler):
    """A dask client: to the scheduler at this address, or an in-process LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler is None or scheduler == "local":
        cluster = LocalCluster(processes=False, dashboard_address=":0", silence_logs=40)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="20s"), None
    except (OSError, TimeoutError, ValueError) as err:
        raise CommandLineError(f"--scheduler: could not connect to {scheduler!r}: {err}") from err


def _audit_dask_command(args):
    """``boostkit audit`` with the training data partitioned on a Dask cluster."""
    import numpy as np

    try:
        import dask.dataframe as dd
    except ImportError:
        raise CommandLineError("parquet training data and --scheduler need dask: pip install "
                               "'boostkit[dask]'") from None
    from .influence import BoostIn
    from .influence.distributed import take_rows
    from .influence.report import (AuditReport, _choose_test_points, _normalise, _Predictor,
                                   _row_table)
    from .trees import from_model

    if _normalise(args.method) != "boostin":
        raise CommandLineError(f"--method: with parquet data or --scheduler the audit runs "
                               f"BoostIn on the cluster; got {args.method!r}")
    for option, value in (("--top-k", args.top_k), ("--n-test-points", args.n_test_points)):
        if value < 1:
            raise CommandLineError(f"{option} must be a positive integer; got {value}")
    model = load_model(args.model)
    try:
        ensemble = from_model(model)
    except ValueError as err:
        raise CommandLineError(f"--model: {err}") from err
    path = Path(args.data)
    if not path.exists():
        raise CommandLineError(f"--data: no such file or folder: {path}")
    try:
        frame = dd.read_parquet(str(path), index=args.index_column or None)
    except (OSError, ValueError, KeyError, ImportError) as err:
        raise CommandLineError(f"--data: could not read {path} as parquet: {err}") from err
    frame.columns = [str(c) for c in frame.columns]
    if args.target not in frame.columns:
        raise CommandLineError(f"--target: column {args.target!r} is not in {path}; its columns "
                               f"are {list(frame.columns)[:20]}")
    features = [c for c in frame.columns if c != args.target]
    X = _match_features(frame[features], ensemble, "--data", path)
    X_test = y_test = None
    if args.test is not None:
        X_t, y_test = _read_table(args.test, "--test", args.target, args.index_column)
        X_test = _match_features(X_t, ensemble, "--test", args.test)
    print(f"{Path(args.model).name}: {ensemble.summary().splitlines()[0]}")
    client, cluster = _connect(args.scheduler)
    try:
        explainer = BoostIn(verbose=0).fit(model, X, frame[args.target], client=client,
                                           persist=args.persist)
        k = min(args.top_k, explainer.n_train_)
        suspects_top = explainer.self_influence(top_k=k)
        predictor = _Predictor(ensemble, explainer.classes_)
        needed = [suspects_top["position"].to_numpy()]
        chosen, test_table, top = [], None, None
        notes = [f"Training data read with Dask from {path.name} ({frame.npartitions} "
                 f"partitions) and kept on the cluster."]
        # the histogram's rows: all of them up to a million, else a systematic sample
        step = -(-explainer.n_train_ // _HISTOGRAM_ROWS)
        histogram = np.asarray(explainer.self_influence().map_partitions(
            lambda part: part.iloc[::step]).compute())  # every step-th row of each partition
        if step > 1:
            notes.append(f"The self-influence plots show every {step}-th training row of each "
                         f"partition ({len(histogram):,} of {explainer.n_train_:,}).")
        if X_test is not None:
            full_test = predictor.table(X_test, y_test.to_numpy(), "y_test")
            full_test.index = X_t.index
            chosen = _choose_test_points(_test_points(args), full_test["loss"].to_numpy(),
                                         args.n_test_points, len(full_test))
            test_table = full_test.iloc[chosen].copy()
            test_table.insert(0, "position", chosen)
            rows = X_test.iloc[chosen] if hasattr(X_test, "iloc") else X_test[chosen]
            top = explainer.local_influence(rows, y_test.to_numpy()[chosen], top_k=k)
            needed += [top.helpful_indices.ravel(), top.harmful_indices.ravel()]
        positions = np.unique(np.concatenate(needed))
        rows = take_rows(frame, explainer._dask.lengths, positions)
        rows_X = _match_features(rows[features], ensemble, "--data", path)
        table = predictor.table(rows_X, rows[args.target].to_numpy(), "y")
        table.index = rows.index

        def row_table(global_positions, values, name):
            local = np.searchsorted(positions, global_positions)
            out = _row_table(table, local, values, name)
            out["position"] = np.asarray(global_positions, dtype=np.int64)
            return out

        suspects = row_table(suspects_top["position"].to_numpy(),
                             suspects_top["self_influence"].to_numpy(), "self_influence")
        helpful, harmful = {}, {}
        for j, e in enumerate(chosen):
            helpful[e] = row_table(top.helpful_indices[:, j], top.helpful_values[:, j],
                                   "influence")
            harmful[e] = row_table(top.harmful_indices[:, j], top.harmful_values[:, j],
                                   "influence")
        if X_test is None:
            notes.append("No test data given (--test): only the training rows are audited.")
        report = AuditReport(
            method="BoostIn", explainer=explainer,
            model_name=f"{type(model).__name__} ({Path(args.model).name})",
            objective=ensemble.objective, n_train=explainer.n_train_, top_k=args.top_k,
            self_influence=histogram, training=None, suspects=suspects,
            test_predictions=test_table, helpful=helpful, harmful=harmful, notes=notes)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(report.summary())
    if args.suspects_csv is not None:
        report.suspects.to_csv(args.suspects_csv)
        print(f"Flagged rows written to {Path(args.suspects_csv).resolve()}")
    out = report.to_html(args.out)
    print(f"Report written to {Path(out).resolve()}")
    return 0


def _test_points(args):
    if args.test_points is None:
        return None
    if args.test is None:
        raise CommandLineError("--test-points needs --test")
    try:
        return [int(v) for v in args.test_points.split(",") if v.strip()]
    except ValueError:
        raise CommandLineError(f"--test-points must be comma-separated row positions; got "
                               f"{args.test_points!r}") from None


def _audit_command(args):
    from .trees import from_model

    if _is_dask_route(args):
        return _audit_dask_command(args)

    from .influence.report import _available_methods, _resolve_method

    verbose = 0 if args.quiet else 1
    for option, value in (("--top-k", args.top_k), ("--n-test-points", args.n_test_points)):
        if value < 1:
            raise CommandLineError(f"{option} must be a positive integer; got {value}")
    try:  # before the slow steps: a typo in the method name fails at once
        explainer, _ = _resolve_method(args.method, verbose, None)
    except ValueError as err:
        raise CommandLineError(f"--method: {args.method!r} is not an available method; "
                               f"accepted: {', '.join(_available_methods())}") from err
    model = load_model(args.model)
    try:
        ensemble = from_model(model)
    except ValueError as err:  # UnsupportedModelError is a ValueError
        raise CommandLineError(f"--model: {err}") from err
    X, y = _read_csv(args.data, "--data", args.target, args.index_column)
    X_train = _match_features(X, ensemble, "--data", args.data)
    X_test = y_test = test_index = None
    if args.test is not None:
        X_t, y_test = _read_csv(args.test, "--test", args.target, args.index_column)
        X_test = _match_features(X_t, ensemble, "--test", args.test)
        test_index = X_t.index
    test_points = _test_points(args)
    print(f"{Path(args.model).name}: {ensemble.summary().splitlines()[0]}")
    report = _run_audit(model, X_train, y, X_test, y_test, explainer, top_k=args.top_k,
                        test_points=test_points, n_test_points=args.n_test_points,
                        sample_weight=None, method_params=None, verbose=verbose,
                        train_index=X.index, test_index=test_index,
                        model_name=f"{type(model).__name__} ({Path(args.model).name})")
    print(report.summary())
    if args.suspects_csv is not None:
        if report.suspects is None:
            raise CommandLineError(f"--suspects-csv: {report.method} has no self influence, so "
                                   f"no rows are flagged")
        report.suspects.to_csv(args.suspects_csv)
        print(f"Flagged rows written to {Path(args.suspects_csv).resolve()}")
    out = report.to_html(args.out)
    print(f"Report written to {Path(out).resolve()}")
    return 0


def _run_audit(*args, **kwargs):
    from .exceptions import UnsupportedModelError
    from .influence.report import _audit

    try:
        return _audit(*args, **kwargs)
    except UnsupportedModelError as err:
        hint = " (on the command line: --method trex)" if "use TREX" in str(err) else ""
        raise CommandLineError(f"--model: {err}{hint}") from err
    except ValueError as err:  # name the option whose file holds the offending data
        message = str(err)
        first = message.split(" ")[0].rstrip(":")
        option = {"X": "--data", "y": "--data", "X_test": "--test", "y_test": "--test",
                  "top_k": "--top-k", "test_points": "--test-points",
                  "n_test_points": "--n-test-points"}.get(first)
        if option is None:
            raise
        raise CommandLineError(f"{option}: {message}") from err


def _parser():
    parser = argparse.ArgumentParser(
        prog="boostkit", description="boostkit command line: influence audits of tree models.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"boostkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    audit = commands.add_parser(
        "audit", help="which training rows look mislabeled, and which made the worst "
                      "test predictions",
        description=(
            "Influence audit of a saved tree model on its training data. Ranks the training "
            "rows by self influence (the most likely mislabeled or harmful first) and, with "
            "--test, lists for the test points with the highest loss the most helpful and most "
            "harmful training rows. Writes one self-contained HTML report. Model files: "
            + _accepted_formats() + ". Only load pickles you trust. For a raw LightGBM / "
            "XGBoost / CatBoost Booster classifier, the target column holds the class codes "
            "0..K-1; for a pickled scikit-learn-style classifier, its classes_."))
    audit.add_argument("--model", required=True, metavar="FILE",
                       help="saved model (format from the extension, else the first bytes)")
    audit.add_argument("--data", required=True, metavar="CSV|PARQUET",
                       help="training data: the target column and the model's feature columns; "
                            "a parquet file or folder is read with Dask and stays partitioned")
    audit.add_argument("--target", required=True, metavar="COLUMN", help="label column")
    audit.add_argument("--test", metavar="CSV", help="test data with the same columns")
    audit.add_argument("--out", default="audit_report.html", metavar="HTML",
                       help="where to write the report (default: %(default)s)")
    audit.add_argument("--suspects-csv", metavar="CSV",
                       help="also write the flagged training rows as CSV (machine-readable)")
    audit.add_argument("--method", default="boostin",
                       help="influence method: boostin (default), trex (forests too), leaf_influence, "
                            "loo, loss, ... (the ones installed are accepted)")
    audit.add_argument("--top-k", type=int, default=10, metavar="K",
                       help="rows in every table (default: %(default)s)")
    audit.add_argument("--n-test-points", type=int, default=3, metavar="N",
                       help="test points to explain: those with the highest loss (default: "
                            "%(default)s)")
    audit.add_argument("--test-points", metavar="I,J,...",
                       help="explain these 0-based row positions of --test instead")
    audit.add_argument("--index-column", metavar="COLUMN",
                       help="CSV column holding row ids (used in the tables; not a feature)")
    audit.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on the Dask cluster whose scheduler is at ADDRESS (e.g. "
                            "tcp://10.0.0.5:8786; 'local': a cluster in this process); the "
                            "training data is read with Dask and never gathered (BoostIn)")
    audit.add_argument("--persist", action="store_true",
                       help="with Dask: keep every partition's leaf ids and derivatives in the "
                            "workers' memory (faster queries) instead of recomputing them")
    audit.add_argument("--quiet", action="store_true",
                       help="no progress bars (the summary is still printed)")
    audit.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    audit.set_defaults(run=_audit_command)
    warmup = commands.add_parser(
        "warmup", help="compile and cache every numba kernel now (once per install)",
        description=("Compile every numba kernel of boostkit and streamml and cache it, so that "
                     "no first fit, apply or learn pays the compile time later. Takes a few "
                     "minutes on an empty cache; seconds when the cache is already filled."))
    warmup.add_argument("--quiet", action="store_true", help="no progress bar")
    warmup.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    warmup.set_defaults(run=_warmup_command)
    return parser


def _warmup_command(args):
    import numba

    from .warmup import warmup

    results = warmup(verbose=0 if args.quiet else 1)
    compiled = sum(v for v in results.values() if not isinstance(v, str))
    where = numba.config.CACHE_DIR or "next to the installed sources (or ~/.cache/numba)"
    print(f"boostkit warmup: {compiled:.1f} s; kernels cached {where}")
    for name, value in results.items():
        if isinstance(value, str):
            print(f"  {name}: {value}")
    return 0


def main(argv=None):
    """Run the ``boostkit`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 success, 2 bad input, 1 unexpected error. ``--help`` and argument
        syntax errors exit through argparse (status 0 and 2).

    Examples
    --------
    >>> main(["audit", "--model", "missing.txt", "--data", "d.csv", "--target", "y"])
    2
    """
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except Exception as err:  # noqa: BLE001 -- a command line reports, it does not crash
        if getattr(args, "debug", False):
            traceback.print_exc()
        expected = isinstance(err, (CommandLineError, ValueError, TypeError, KeyError, OSError))
        message = " ".join(str(err).split()) or type(err).__name__
        prefix = "" if isinstance(err, CommandLineError) else f"{type(err).__name__}: "
        print(f"boostkit {args.command}: error: {prefix}{message}", file=sys.stderr)
        if not expected:
            print("(unexpected: please report it; --debug shows the traceback)",
                  file=sys.stderr)
        return 2 if expected else 1
