"""The audit users read: which training rows look wrong, and which ones made chosen predictions.

:func:`audit` fits an influence explainer on a fitted model and its training data, ranks the
training rows by self influence (the ones most likely mislabeled or harmful come first) and, for
a few test predictions, lists the most helpful and most harmful training rows. The result, an
:class:`AuditReport`, prints a terminal summary, draws matplotlib figures (no display needed) and
writes one self-contained HTML file.
"""

from __future__ import annotations

import base64
import html
import importlib
import io
import inspect
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from scipy.special import expit, softmax
from sklearn.base import clone
from tqdm.auto import tqdm

from .._optional import import_optional

__all__ = ["audit", "AuditReport", "METHODS"]

# Method name -> class name in boostkit.influence. Looked up when audit() is called, so methods
# added to the package later work without touching this table's users.
METHODS = {
    "boostin": "BoostIn",
    "trex": "TREX",
    "leaf_influence": "LeafInfluence",
    "leaf_influence_sp": "LeafInfluenceSP",
    "leaf_refit": "LeafRefit",
    "loo": "LOO",
    "subsample": "SubSample",
    "random": "Random",
    "target": "Target",
    "input_sim": "InputSim",
    "leaf_sim": "LeafSim",
    "tree_sim": "TreeSim",
    "loss": "Loss",
}
# Methods that score training rows globally and have no local (per test point) influence.
_GLOBAL_ONLY = {"Loss"}
_PROB_FLOOR = 1e-15


def _normalise(name):
    return "".join(ch for ch in str(name).lower() if ch not in "_- ")


def _available_methods():
    package = importlib.import_module("boostkit.influence")
    return [name for name, cls in METHODS.items() if hasattr(package, cls)]


def _resolve_method(method, verbose, method_params):
    """An unfitted explainer and its display name, from a method name, class or instance."""
    params = dict(method_params or {})
    if isinstance(method, str):
        wanted = _normalise(method)
        lookup = {_normalise(k): v for k, v in METHODS.items()}
        lookup.update({_normalise(v): v for v in METHODS.values()})
        available = _available_methods()
        if wanted not in lookup:
            raise ValueError(f"method must be one of {available} or an explainer instance; "
                             f"got {method!r}")
        cls = getattr(importlib.import_module("boostkit.influence"), lookup[wanted], None)
        if cls is None:
            raise ValueError(f"method {method!r} ({lookup[wanted]}) is not available in this "
                             f"version of boostkit; available: {available}")
    elif isinstance(method, type):
        cls = method
    else:
        if not callable(getattr(method, "fit", None)):
            raise TypeError(f"method must be a method name ({_available_methods()}) or an "
                            f"explainer instance with fit(model, X, y); got "
                            f"{type(method).__name__}")
        if params:
            raise ValueError("method_params only applies to a method given by name or class; "
                             "set the parameters on the explainer instance instead")
        try:
            explainer = clone(method)
        except TypeError:
            explainer = method
        return explainer, type(method).__name__
    if not callable(getattr(cls, "fit", None)):
        raise TypeError(f"method: {cls.__name__} has no fit(model, X, y) method")
    accepted = inspect.signature(cls).parameters
    if "verbose" in accepted and "verbose" not in params:
        params["verbose"] = verbose
    unknown = [p for p in params if p not in accepted and not any(
        a.kind is inspect.Parameter.VAR_KEYWORD for a in accepted.values())]
    if unknown:
        raise ValueError(f"method_params: {cls.__name__} has no parameter(s) {unknown}; its "
                         f"parameters are {list(accepted)}")
    return cls(**params), cls.__name__


def _check_positive_int(value, name):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _labels_array(y, name, n_rows):
    if y is None:
        raise ValueError(f"{name} is required")
    values = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.shape[0] != n_rows:
        raise ValueError(f"{name} must have shape ({n_rows},) like its X; got "
                         f"{values.shape}")
    return values


def _index_of(X, given=None):
    if given is not None:
        return pd.Index(given)
    if isinstance(X, pd.DataFrame):
        return X.index
    return pd.RangeIndex(X.shape[0] if hasattr(X, "shape") else len(X), name="row")


def _take_rows(X, positions):
    return X.iloc[positions] if isinstance(X, pd.DataFrame) else np.asarray(X)[positions]


class _Predictor:
    """The model's predictions and per-row loss, computed from the parsed ensemble so that
    every library (and raw Boosters without ``predict_proba``) is treated alike."""

    def __init__(self, ensemble, classes):
        self.ensemble = ensemble
        self.classes = None if classes is None else np.asarray(classes)

    @property
    def is_classifier(self):
        return self.classes is not None

    def probabilities(self, raw):
        if self.ensemble.averaged:  # forests: the outputs already are class probabilities
            total = raw.sum(axis=1, keepdims=True)
            return raw / np.where(total > 0, total, 1.0)
        if raw.shape[1] == 1:
            p = expit(raw[:, 0])
            return np.column_stack([1.0 - p, p])
        return softmax(raw, axis=1)

    def table(self, X, y, name):
        """DataFrame columns label / predicted / p(label) (or residual) / loss, in row order."""
        raw = self.ensemble.predict_raw(X)
        if not self.is_classifier:
            target = np.asarray(y, dtype=np.float64)
            predicted = raw[:, 0]
            return pd.DataFrame({"label": y, "predicted": predicted,
                                 "residual": target - predicted,
                                 "loss": 0.5 * (target - predicted) ** 2})
        labels = np.asarray(y)
        if labels.dtype == bool and self.classes.dtype.kind in "iuf":
            labels = labels.astype(np.int64)
        codes = pd.Index(self.classes).get_indexer(labels)
        if (codes < 0).any():
            unseen = pd.unique(labels[codes < 0])
            raise ValueError(f"{name} has labels the model never saw: "
                             f"{pd.Index(unseen[:5]).tolist()}; the model's classes are "
                             f"{pd.Index(self.classes[:20]).tolist()}")
        proba = self.probabilities(raw)
        p_label = proba[np.arange(len(codes)), codes]
        return pd.DataFrame({"label": y, "predicted": self.classes[proba.argmax(axis=1)],
                             "p_label": p_label,
                             "loss": -np.log(np.maximum(p_label, _PROB_FLOOR))})


def _top_from_matrix(influence, k):
    """Top-k helpful / harmful rows of a full (n_train, n_test) matrix; ties to the smaller row."""
    helpful = np.argsort(-influence, axis=0, kind="stable")[:k]
    harmful = np.argsort(influence, axis=0, kind="stable")[:k]
    cols = np.arange(influence.shape[1])[None, :]
    return helpful, influence[helpful, cols], harmful, influence[harmful, cols]


def audit(model, X, y, X_test=None, y_test=None, method="boostin", *, top_k=10,
          test_points=None, n_test_points=3, sample_weight=None, method_params=None,
          verbose=0):
    """Audit a fitted tree model: suspicious training rows and who made chosen predictions.

    1. The explainer named by ``method`` is fitted on ``(model, X, y)``.
    2. Training rows are ranked by self influence, largest first: the rows the model had to
       bend the most to fit, where mislabeled and otherwise harmful rows concentrate. The
       ``top_k`` first ones are flagged (:attr:`AuditReport.suspects`).
    3. With ``X_test, y_test``: for each chosen test point (``test_points``, by default the
       ``n_test_points`` test points with the highest loss under the model, which puts
       confidently misclassified points first), the ``top_k`` most helpful and most harmful
       training rows by local influence (:attr:`AuditReport.helpful`, :attr:`AuditReport.harmful`).

    Parameters
    ----------
    model : fitted tree model
        Any model :func:`boostkit.trees.from_model` reads (LightGBM, XGBoost, CatBoost,
        scikit-learn), including raw ``lightgbm.Booster`` / ``xgboost.Booster`` objects.
    X : array-like or DataFrame of shape (n_train, n_features)
        The model's training data. A DataFrame's index labels the rows in every table.
    y : array-like of shape (n_train,)
        Training labels: the model's classes (``classes_``), or the codes ``0..K-1`` for a raw
        Booster classifier, or regression targets.
    X_test, y_test : array-like, optional
        Test data whose predictions are explained (both or neither).
    method : str, explainer class or explainer instance, default="boostin"
        A name in :data:`METHODS` (``"boostin"``, ``"trex"``, ``"leaf_influence"``, ``"loo"``,
        ``"loss"``, ...; class names such as ``"LeafInfluence"`` work too) whose explainer is
        available in :mod:`boostkit.influence`, or an explainer (cloned, then fitted).
        Global-only methods (``"loss"``) skip the per-test-point part, with a note.
    top_k : int, default=10
        Rows in every table (flagged training rows, helpful and harmful rows per test point).
    test_points : sequence of int, optional
        Positions (0-based) in ``X_test`` of the test points to explain.
    n_test_points : int, default=3
        How many test points to explain when ``test_points`` is not given.
    sample_weight : array-like of shape (n_train,), optional
        The weights the model was trained with.
    method_params : dict, optional
        Parameters for the explainer when ``method`` is a name or a class.
    verbose : int, default=0
        1 shows progress bars (the audit's steps and the explainer's own).

    Returns
    -------
    AuditReport

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import audit
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1)
    >>> model = model.fit(X[:400], y[:400])
    >>> report = audit(model, X[:400], y[:400], X[400:], y[400:], top_k=5)
    >>> report.suspects.columns.tolist()
    ['rank', 'position', 'label', 'predicted', 'p_label', 'self_influence']
    >>> len(report.suspects), len(report.helpful)
    (5, 3)
    >>> bool(report.suspects["self_influence"].is_monotonic_decreasing)
    True
    """
    return _audit(model, X, y, X_test, y_test, method, top_k=top_k, test_points=test_points,
                  n_test_points=n_test_points, sample_weight=sample_weight,
                  method_params=method_params, verbose=verbose)


def _audit(model, X, y, X_test, y_test, method, *, top_k, test_points, n_test_points,
           sample_weight, method_params, verbose, train_index=None, test_index=None,
           model_name=None):
    """:func:`audit`, plus row labels for array inputs (the command line's CSV index)."""
    top_k = _check_positive_int(top_k, "top_k")
    n_test_points = _check_positive_int(n_test_points, "n_test_points")
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test go together: pass both or neither")
    if not isinstance(verbose, (int, np.integer, bool)) or verbose < 0:
        raise ValueError(f"verbose must be a non-negative integer; got {verbose!r}")
    explainer, method_name = _resolve_method(method, verbose, method_params)
    n_steps = 3 if X_test is not None else 2
    steps = tqdm(total=n_steps, desc="audit", disable=not verbose, leave=False)
    notes = []
    try:
        steps.set_postfix_str(f"fit {method_name}")
        if sample_weight is None:
            explainer.fit(model, X, y)
        else:
            explainer.fit(model, X, y, sample_weight=sample_weight)
        steps.update()
        ensemble = getattr(explainer, "ensemble_", None)
        if ensemble is None:
            from ..trees import from_model

            ensemble = from_model(model)
        classes = getattr(explainer, "classes_", None)
        if classes is None and ensemble.objective != "squared_error":
            classes = getattr(model, "classes_", None)
            if classes is None:
                classes = np.arange(max(2, ensemble.n_outputs))
        predictor = _Predictor(ensemble, classes)
        n_train = X.shape[0] if hasattr(X, "shape") else len(X)
        train_index = _index_of(X, train_index)
        y_values = _labels_array(y, "y", n_train)
        train_table = predictor.table(X, y_values, "y")
        train_table.index = train_index

        steps.set_postfix_str("self influence")
        scores, suspects = None, None
        try:
            scores = np.asarray(explainer.self_influence(), dtype=np.float64)
        except (NotImplementedError, AttributeError) as err:
            reason = str(err).rstrip(".")
            if not reason.startswith(method_name):
                reason = f"{method_name} has no self influence ({reason})"
            notes.append(f"{reason}. No training rows are flagged.")
        if scores is not None:
            order = np.argsort(-scores, kind="stable")[:min(top_k, n_train)]
            suspects = _row_table(train_table, order, scores[order], "self_influence")
        steps.update()

        chosen, helpful, harmful, test_table = [], {}, {}, None
        if X_test is not None:
            steps.set_postfix_str("local influence")
            n_test = X_test.shape[0] if hasattr(X_test, "shape") else len(X_test)
            y_test_values = _labels_array(y_test, "y_test", n_test)
            test_labels = _index_of(X_test, test_index)
            full_test = predictor.table(X_test, y_test_values, "y_test")
            full_test.index = test_labels
            chosen = _choose_test_points(test_points, full_test["loss"].to_numpy(),
                                         n_test_points, n_test)
            test_table = full_test.iloc[chosen].copy()
            test_table.insert(0, "position", chosen)
            if test_points is None:
                notes.append(f"Explained the {len(chosen)} test points with the highest loss "
                             f"under the model (pass test_points=... to choose others).")
            if method_name in _GLOBAL_ONLY or not callable(
                    getattr(explainer, "local_influence", None)):
                notes.append(f"{method_name} scores training rows globally and has no local "
                             f"influence; the per-test-point tables are skipped.")
            else:
                k = min(top_k, n_train)
                top = _local_top(explainer, _take_rows(X_test, chosen), y_test_values[chosen],
                                 k)
                for j, e in enumerate(chosen):
                    helpful[e] = _row_table(train_table, top[0][:, j], top[1][:, j],
                                            "influence")
                    harmful[e] = _row_table(train_table, top[2][:, j], top[3][:, j],
                                            "influence")
            steps.update()
        else:
            notes.append("No test data given (X_test, y_test): only the training rows are "
                         "audited.")
    finally:
        steps.close()
    return AuditReport(method=method_name, explainer=explainer,
                       model_name=model_name or type(model).__name__, objective=ensemble.objective,
                       n_train=n_train, top_k=top_k, self_influence=scores,
                       training=train_table, suspects=suspects, test_predictions=test_table,
                       helpful=helpful, harmful=harmful, notes=notes)


def _choose_test_points(test_points, losses, n_test_points, n_test):
    if test_points is None:
        return [int(e) for e in np.argsort(-losses, kind="stable")[:min(n_test_points, n_test)]]
    points = np.atleast_1d(np.asarray(test_points))
    if points.ndim != 1 or points.size == 0 or points.dtype.kind not in "iu":
        raise ValueError(f"test_points must be a non-empty sequence of integer positions in "
                         f"X_test; got {test_points!r}")
    if points.min() < 0 or points.max() >= n_test:
        raise ValueError(f"test_points must be positions in [0, {n_test}) of X_test; got "
                         f"{points.tolist()}")
    if len(np.unique(points)) != len(points):
        raise ValueError(f"test_points has repeated positions: {points.tolist()}")
    return [int(e) for e in points]


def _local_top(explainer, X_chosen, y_chosen, k):
    if "top_k" not in inspect.signature(explainer.local_influence).parameters:
        # an explainer without top_k (user-written): rank its full matrix here
        return _top_from_matrix(np.asarray(explainer.local_influence(X_chosen, y_chosen)), k)
    top = explainer.local_influence(X_chosen, y_chosen, top_k=k)
    return tuple(np.asarray(part) for part in top)


def _row_table(train_table, positions, values, value_name):
    positions = np.asarray(positions, dtype=np.int64)
    table = train_table.iloc[positions].drop(columns="loss").copy()
    table.insert(0, "position", positions)
    table.insert(0, "rank", np.arange(1, len(positions) + 1))
    table[value_name] = np.asarray(values, dtype=np.float64)
    return table


def _format_value(value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def _figure_png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure_class():
    """matplotlib's Figure (no pyplot, no display), or an error saying how to install it."""
    return import_optional("matplotlib.figure", "plot", "the audit report's plots").Figure


class AuditReport:
    """Result of :func:`audit`: tables, figures, a terminal summary and an HTML file.

    Attributes
    ----------
    method : str
        The explainer's class name.
    explainer : fitted explainer
    model_name : str
    objective : str
        ``"squared_error"``, ``"logistic"`` or ``"softmax"``.
    n_train : int
    top_k : int
    self_influence : ndarray of shape (n_train,) or None
        None for methods without self influence.
    training : DataFrame
        Every training row (index as in ``X``): ``label``, the model's ``predicted`` label (or
        value), ``p_label`` (the model's probability of the row's own label; ``residual`` for
        regression) and ``loss``.
    suspects : DataFrame or None
        The ``top_k`` training rows by self influence, largest first: ``rank``, ``position``
        (0-based row in ``X``), ``label``, ``predicted``, ``p_label`` / ``residual``,
        ``self_influence``. Indexed like ``X``.
    test_predictions : DataFrame or None
        The explained test points (index as in ``X_test``): ``position`` in ``X_test``,
        ``label``, ``predicted``, ``p_label`` / ``residual``, ``loss``.
    helpful, harmful : dict of int -> DataFrame
        Per explained test point (key: its position in ``X_test``), the ``top_k`` most helpful
        (largest influence first) or most harmful (most negative first) training rows, with the
        columns of ``suspects`` and ``influence`` instead of ``self_influence``.
    notes : list of str
        What was skipped or chosen by default, for the reader.

    Examples
    --------
    >>> import lightgbm as lgb, os, tempfile
    >>> from sklearn.datasets import load_diabetes
    >>> from boostkit.influence import audit
    >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
    >>> model = lgb.LGBMRegressor(n_estimators=10, num_leaves=5, verbose=-1).fit(X, y)
    >>> report = audit(model, X, y, X[:20], y[:20], top_k=3, test_points=[0, 5])
    >>> sorted(report.harmful)
    [0, 5]
    >>> print(report.summary().splitlines()[0])
    Influence audit (BoostIn) of LGBMRegressor: 442 training rows, squared_error
    >>> path = report.to_html(os.path.join(tempfile.mkdtemp(), "audit.html"))
    >>> open(path).read().count("data:image/png;base64,")
    3
    """

    def __init__(self, *, method, explainer, model_name, objective, n_train, top_k,
                 self_influence, training, suspects, test_predictions, helpful, harmful, notes):
        self.method = method
        self.explainer = explainer
        self.model_name = model_name
        self.objective = objective
        self.n_train = n_train
        self.top_k = top_k
        self.self_influence = self_influence
        self.training = training
        self.suspects = suspects
        self.test_predictions = test_predictions
        self.helpful = helpful
        self.harmful = harmful
        self.notes = list(notes)

    # -------------------------------------------------------------- text
    def _headline(self):
        return (f"Influence audit ({self.method}) of {self.model_name}: {self.n_train} training "
                f"rows, {self.objective}")

    def _describe_test_point(self, e):
        table = self.test_predictions
        at = list(table["position"]).index(e)

        def cell(column):  # column by column: a row Series would upcast labels to float
            return table[column].iloc[at]

        detail = (f"p(label) {cell('p_label'):.3f}" if "p_label" in table
                  else f"residual {cell('residual'):+.4g}")
        return (f"test row {table.index[at]}: label {_format_value(cell('label'))}, predicted "
                f"{_format_value(cell('predicted'))} ({detail}, loss {cell('loss'):.4g})")

    def summary(self, n_rows=5):
        """Text for a terminal: flagged rows, the explained test points, the notes.

        Parameters
        ----------
        n_rows : int, default=5
            Rows shown per table.

        Returns
        -------
        str
        """
        lines = [self._headline()]
        if self.suspects is None:
            lines.append(f"No training rows flagged: {self.method} has no self influence.")
        else:
            lines.append(f"Flagged {len(self.suspects)} of {self.n_train} training rows (highest "
                         f"self influence: most likely mislabeled or harmful); top "
                         f"{min(n_rows, len(self.suspects))}:")
            shown = self.suspects.head(n_rows).copy()
            lines.extend("  " + s for s in shown.to_string(
                float_format=lambda v: f"{v:.4g}").splitlines())
        if self.test_predictions is not None and (self.helpful or self.harmful):
            lines.append(f"Explained {len(self.helpful)} test predictions:")
            for e in self.helpful:
                lines.append("  " + self._describe_test_point(e))
                for kind, tables in (("helpful", self.helpful), ("harmful", self.harmful)):
                    table = tables[e].head(n_rows)
                    rows = ", ".join(f"{label} ({value:+.3g})" for label, value in
                                     zip(table.index, table["influence"]))
                    lines.append(f"    most {kind}: {rows}")
        lines.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(lines)

    def __repr__(self):
        flagged = "no self influence" if self.suspects is None else (
            f"{len(self.suspects)} rows flagged")
        return (f"<AuditReport {self.method} of {self.model_name}: {self.n_train} training rows, "
                f"{flagged}, {len(self.helpful)} test points explained>")

    # -------------------------------------------------------------- figures
    def plot_self_influence(self):
        """Histogram of the self influence with the flagged rows marked, and the sorted scores.

        Returns
        -------
        matplotlib.figure.Figure or None
            None when the method has no self influence. The figure is not attached to pyplot:
            save it with ``fig.savefig(path)``.
        """
        if self.self_influence is None:
            return None
        Figure = _figure_class()
        scores = self.self_influence
        flagged = self.suspects["self_influence"].to_numpy()
        fig = Figure(figsize=(10, 3.6))
        left, right = fig.subplots(1, 2)
        left.hist(scores, bins=min(60, max(10, len(scores) // 10)), color="#8aa6c1")
        for value in flagged:
            left.axvline(value, color="#c0392b", lw=0.8, alpha=0.8)
        left.set_yscale("log")
        left.set_xlabel("self influence")
        left.set_ylabel("training rows")
        left.set_title(f"Self influence of {len(scores)} rows (red: {len(flagged)} flagged)")
        ordered = np.sort(scores)[::-1]
        right.plot(np.arange(1, len(ordered) + 1), ordered, color="#34495e", lw=1)
        right.scatter(np.arange(1, len(flagged) + 1), flagged, color="#c0392b", s=12, zorder=3)
        right.set_xscale("log")
        right.set_xlabel("rank")
        right.set_ylabel("self influence")
        right.set_title("Sorted self influence")
        fig.tight_layout()
        return fig

    def plot_test_point(self, test_point, n_bars=10):
        """Bar chart of one explained test point's most helpful and most harmful rows.

        Parameters
        ----------
        test_point : int
            Position in ``X_test`` (a key of :attr:`helpful`).
        n_bars : int, default=10
            Most helpful and most harmful rows drawn (each; the tables keep all ``top_k``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        if test_point not in self.helpful:
            raise ValueError(f"test_point must be one of the explained test points "
                             f"{sorted(self.helpful)}; got {test_point!r}")
        Figure = _figure_class()
        n_bars = _check_positive_int(n_bars, "n_bars")
        helpful = self.helpful[test_point].head(n_bars)
        harmful = self.harmful[test_point].head(n_bars)
        # bars bottom-up: most harmful at the bottom, most helpful on top
        rows = pd.concat([harmful, helpful.iloc[::-1]])
        labels = [f"row {label} (label {_format_value(lab)})"
                  for label, lab in zip(rows.index, rows["label"])]
        values = rows["influence"].to_numpy()
        fig = Figure(figsize=(8, 0.28 * len(rows) + 1.4))
        ax = fig.subplots()
        positions = np.arange(len(rows))
        ax.barh(positions, values, color=np.where(values >= 0, "#27ae60", "#c0392b"))
        ax.set_yticks(positions, labels, fontsize=8)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_xlabel("influence on the test loss (positive = helpful)")
        ax.set_title(self._describe_test_point(test_point), fontsize=9)
        fig.tight_layout()
        return fig

    def figures(self):
        """Every figure of the report, by name (``"self_influence"``, ``"test_<position>"``).

        Returns
        -------
        dict of str -> matplotlib.figure.Figure
        """
        out = {}
        fig = self.plot_self_influence()
        if fig is not None:
            out["self_influence"] = fig
        for e in self.helpful:
            out[f"test_{e}"] = self.plot_test_point(e)
        return out

    # -------------------------------------------------------------- HTML
    def to_html(self, path, title=None):
        """Write the report as one self-contained HTML file (figures embedded as PNG).

        Without matplotlib (the ``plot`` extra) the page holds the tables only, with a note
        saying how to get the figures.

        Parameters
        ----------
        path : str or path-like
        title : str, optional
            Page title (default: the report's headline).

        Returns
        -------
        str or path-like
            ``path``, as given.
        """
        try:
            figures, left_out = self.figures(), None
        except ImportError as error:  # matplotlib missing: the tables still say everything
            figures, left_out = {}, str(error)
        esc = html.escape

        def table_html(df):
            return df.to_html(border=0, classes="table", escape=True,
                              float_format=lambda v: f"{v:.5g}")

        def image(name):
            if name not in figures:
                return ""
            return (f'<img alt="{esc(name)}" src="data:image/png;base64,'
                    f'{_figure_png(figures[name])}">')

        title = title or self._headline()
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        parts = [f"<h1>{esc(title)}</h1>",
                 f"<p class='meta'>Generated {stamp} by boostkit. Positive influence = helpful (removing the training row would "
                 f"raise the loss), negative = harmful.</p>"]
        get_params = getattr(self.explainer, "get_params", None)
        if callable(get_params):
            settings = ", ".join(f"{k}={v!r}" for k, v in sorted(get_params(deep=False).items()))
            parts.append(f"<p class='meta'>Method: {esc(self.method)}({esc(settings)})</p>")
        if left_out is not None:
            parts.append(f"<p class='meta'>Plots left out: {esc(left_out)}.</p>")
        if self.notes:
            parts.append("<ul class='notes'>" + "".join(f"<li>{esc(n)}</li>" for n in self.notes)
                         + "</ul>")
        parts.append("<h2>Training rows most likely mislabeled or harmful</h2>")
        if self.suspects is None:
            parts.append(f"<p>{esc(self.method)} has no self influence.</p>")
        else:
            parts.append(f"<p>The {len(self.suspects)} of {self.n_train} training rows with the "
                         f"highest self influence: the model had to bend the most to fit them. "
                         f"Check their labels first.</p>")
            parts.append(table_html(self.suspects))
            parts.append(image("self_influence"))
        if self.test_predictions is not None:
            parts.append("<h2>Explained test predictions</h2>")
            parts.append(table_html(self.test_predictions))
            for e in self.helpful:
                parts.append(f"<h3>{esc(self._describe_test_point(e))}</h3>")
                parts.append(image(f"test_{e}"))
                parts.append("<div class='pair'><div><h4>Most helpful training rows</h4>"
                             f"{table_html(self.helpful[e])}</div><div><h4>Most harmful "
                             f"training rows</h4>{table_html(self.harmful[e])}</div></div>")
        body = "\n".join(parts)
        document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table.table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }}
table.table th, table.table td {{ padding: 0.2em 0.6em; border-bottom: 1px solid #ddd;
  text-align: right; }}
.pair {{ display: flex; gap: 2em; flex-wrap: wrap; }}
.meta, .notes {{ color: #555; font-size: 0.9em; }}
img {{ max-width: 100%; }}
</style></head>
<body>
{body}
</body></html>
"""
        with open(path, "w", encoding="utf-8") as f:
            f.write(document)
        return path
