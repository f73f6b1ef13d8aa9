"""MLHAT: multi-label Hoeffding adaptive tree for river."""

import copy

import numpy as np
from river import base

from . import _kernels, _sparse, _tree
from ._calibration import LabelThresholds
from ._rules import (
    HAMMING_BUDGET, DecodingChoice, JointChoice, LabelSetBayes, NeighbourWindow, RuleSelector,
    SetDecodingChoice, YoungLabelGate,
)
from ._spaces import (FeatureSpace, LabelDecisions, LabelProbabilities, LabelSpace, SparseVector,
                      auto_representation)

__all__ = ["MLHAT"]

# sparse="auto": instances looked at before choosing the input representation.
AUTO_WINDOW = 32


# Decision rules competing per label (rows of ``MLHAT._rule_decisions``): the tree's leaf
# decisions; its probabilities at the other threshold (0.5 when calibrated, the learned ones
# when not); naive Bayes from the leaf statistics at learned thresholds; the nearest neighbours;
# on sparse input, the tree's decision or the nearest neighbour's label (the rule of young
# labels there; on dense input this row copies the tree's, so it is never chosen); the tree's
# probabilities at the labels' budget thresholds (``LabelThresholds.fallback``: best F1 among
# the thresholds that erred no more than leaving the label out); on sparse input (else a copy
# of the tree's row) the tree's probability blended with the most similar stored instance's
# labels times their cosine similarity, ``(p + w c) / (1 + w)`` with ``w = NEAREST_BLEND``, at
# its own learned thresholds of error weight ``BLEND_ERROR_WEIGHT`` (it ranks a label's
# positives better). The rules from RULE_BUDGET on are taken only when the Hamming budget makes
# labels fall back (chosen freely they cost flags and medical subset accuracy; docs/multilabel.md).
# There RULE_BUDGET is what leaving a label out means (``RuleSelector(scored_never=False)``):
# its counts, not "never"'s, are what the budget sees.
(RULE_TREE, RULE_TREE_OTHER, RULE_NAIVE_BAYES, RULE_NEIGHBOURS, RULE_TREE_OR_NEAREST,
 RULE_BUDGET, RULE_BLEND) = range(7)
N_RULES = 7
NEAREST_BLEND = 1.0
BLEND_ERROR_WEIGHT = 40.0
# A label the Hamming budget leaves out is predicted at its threshold of best F1 among those
# that erred on at most this fraction of its positives (1: no more errors than leaving it out;
# tried 0.8 / 0.95 / 1.0 / 1.1 on bibtex's first 2,000 instances, 1.1 put the Hamming loss
# above the empty prediction's; docs/multilabel.md).
BUDGET_THRESHOLD_ERRORS = 1.0
# Rows of ``MLHAT._rule_decisions`` after the rules': the nearest neighbour's label set, the
# tree's label set decoded without and with the naive-Bayes evidence (RULE_TREE is one of them),
# the young labels the most similar instance would add to the tree's decisions (sparse input),
# and on dense input the tree's label set before and after the whole-label-set rescoring
# (``MLHAT._set_decode``; RULE_TREE is one of them).
(ROW_NEAREST_SET, ROW_TREE_PLAIN, ROW_TREE_EVIDENCE, ROW_YOUNG_ADDITIONS, ROW_TREE_OWN,
 ROW_TREE_SETS) = range(N_RULES, N_RULES + 6)
N_ROWS = N_RULES + 6
# Label-set naive Bayes (``label_set_evidence``, dense input): the label sets it keeps, and
# those of highest posterior rescored per instance (the chain's joint log-probability and the
# posterior over the kept sets are the cost; docs/multilabel.md).
SET_BAYES_MAX_SETS = 128
SET_BAYES_CANDIDATES = 8
# While the rescored set is not in use, it is computed (and scored against the tree's own)
# on every SET_BAYES_IDLE_EVERY-th instance only: on the small dense sets, where it is never
# used, the rescoring cost MLHAT 10-15% of its speed on every instance; at 3, flags ran at
# 0.98x the speed without rescoring and yeast's macro-F1 went .428 -> .425 (3 orders).
SET_BAYES_IDLE_EVERY = 3

# Leaf weight below which the naive-Bayes evidence is not added (its Gaussians are too young).
EVIDENCE_MIN_WEIGHT = 30.0

# Online-bagging weight of a single leaf model (read only: the kernels never write inputs).
_ONE_MEMBER = np.ones(1)


def _copy_vector(v):
    if v is None:
        return None
    if isinstance(v, SparseVector):
        return SparseVector(v.cols.copy(), v.values.copy(), v.n)
    return v.copy()


def _same_vector(a, b):
    """Whether ``b`` holds the instance ``a`` held (raw vectors: dense with NaN, sparse, or
    None), ``b`` possibly with features that were new when it was made (learn_one adds them,
    predict_one does not)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, SparseVector) != isinstance(b, SparseVector):
        return False
    if isinstance(a, SparseVector):
        keep = b.cols < len(a)
        if len(b.cols) and not keep[-1]:
            return (a.cols.tobytes() == b.cols[keep].tobytes()
                    and a.values.tobytes() == b.values[keep].tobytes())
        return a.cols.tobytes() == b.cols.tobytes() and a.values.tobytes() == b.values.tobytes()
    return len(b) >= len(a) and a.tobytes() == b[: len(a)].tobytes()  # NaN equals NaN


def _same_scaled(predicted, xv):
    """The scaled vector of ``predicted`` (the (raw, scaled) vectors of the last prediction)
    when its raw vector is exactly ``xv``, else None: ``learn_one`` right after
    ``predict_one`` on the same instance, with no new feature, scales it once."""
    if predicted is None:
        return None
    raw, scaled = predicted
    if isinstance(xv, SparseVector):
        if (not isinstance(raw, SparseVector) or raw.n != xv.n
                or raw.cols.tobytes() != xv.cols.tobytes()
                or raw.values.tobytes() != xv.values.tobytes()):
            return None
    elif isinstance(raw, SparseVector) or raw.tobytes() != xv.tobytes():  # NaN equals NaN
        return None
    return scaled


def _learning_vectors(features, labels, x, y, sparse, predicted):
    """Validate ``x`` and ``y`` and learn ``x``'s feature statistics: returns the raw and
    scaled vectors of ``x`` (scaled before its statistics are learnt), the indices of ``y``'s
    positive labels and its new labels. ``predicted``: the (raw, scaled) vectors of the last
    prediction, whose scaled vector is reused when it was of this same instance."""
    if sparse:
        xv = features.vectorize_sparse(x, grow=True)  # validates x first
    else:
        xv = features.vectorize(x, grow=True)
    positives, new = labels.encode(y)
    xs = _same_scaled(predicted, xv)
    if xs is None:
        xs = features.scale(xv) if sparse else features.standardize(xv)
    if sparse:
        features.learn_scale(xv)
    else:
        features.learn(xv)
    return xv, xs, positives, new


def _set_decoding(n_labels):
    """A fresh label-set naive Bayes and the choice of its rescored label set."""
    return (LabelSetBayes(n_labels, max_sets=SET_BAYES_MAX_SETS,
                          candidates=SET_BAYES_CANDIDATES), SetDecodingChoice(n_labels))


def _check_positive(name, value, integer=False, upper=None):
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:  # NaN too
        what = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if upper is not None and value >= upper:
        raise ValueError(f"{name} must be < {upper}, got {value!r}")


class MLHAT(base.MultiLabelClassifier):
    """Multi-label Hoeffding adaptive tree.

    A Hoeffding tree over the features whose leaves model the label vector: per-label
    Bernoulli counts and, per feature, a Gaussian estimator of all instances and of the
    instances carrying each label give the multi-label information gain of candidate binary
    splits (node entropy :math:`H = \\sum_l h(p_l)`, Hoeffding range
    :math:`R = \\log_2(\\#\\text{label sets})`). Each leaf predicts with the majority label set
    while it has seen a single one, else with an online-bagged ensemble of logistic classifier
    chains over standardized features (binary relevance beyond ``max_chain_labels`` labels);
    children inherit their parent's leaf model when a leaf splits. Each node runs ADWIN on the
    Hamming loss of its predictions; on an error increase it grows an alternate subtree, swapped
    in or pruned after ``drift_window`` instances by a ``switch_significance`` bound. Leaves of
    the main and alternate subtrees are combined with weights 1 / HammingLoss^2.

    Each label's decision is made by one of four rules (five on sparse input, below), chosen per
    label by the data: the tree's (joint label-set decoding at the leaf, on dense input with
    naive Bayes' tempered log-likelihood ratios added where that has done better), the leaf
    model's probability at the other threshold (the learned one when ``calibrated`` is off, 0.5
    when on), naive Bayes from the statistics the leaf keeps for its splits (Gaussian on dense
    input, multinomial over the words present on sparse input) at learned thresholds, and the
    ``n_neighbours`` nearest of the last ``neighbour_window`` instances (dense input: each raw
    feature divided by its running range, so a rare binary feature weighs like any other). Every
    rule decides every instance before it is learnt (prequential); per label, a rule replaces
    the tree's only with a better F1, no fewer exact label-set matches (the tree's joint
    decoding is what wins subset accuracy) and no more errors, except on a label of which the
    tree finds fewer than half the positives, where it may add errors while its true positives
    gained outweigh its false positives at the rate that keeps micro-F1 (``F / (2 - F)`` false
    positives per true positive, ``F`` the current micro-F1); and while the chosen rules
    together make more than 0.95 times the errors of predicting nothing, every label with 5
    positives or more takes the rule of best ``F1 - c x errors``, one rate ``c`` for all
    labels, the least at which the errors fit that budget (the errors go where they buy the
    most F1), so the Hamming loss stays below the empty prediction's (``hamming_budget`` sets
    the 0.95); two rules are options of that stage only: the leaf model's probability at the
    label's budget threshold (below) and, on sparse input, that probability blended with the
    labels of the most similar stored instance times their cosine similarity, at learned
    thresholds. The budget shrinks in proportion while the answers given erred on more than
    0.98 of the positives (at the default budget, else in proportion to it; the rules chosen
    on their counts err more afterwards than the counts said). The nearest neighbour's whole
    label set replaces the per-label answer while it has matched the true label sets
    significantly more often (a sign test on the instances where exactly one of the two
    matched), with no more label errors and no lower micro-F1.

    On sparse input (text) a fifth rule decides the young labels, those with fewer than 5
    positives, which no learned threshold reaches yet: the tree's decision, or the label of
    the most similar stored instance (cosine over the scaled words) where the tree has not
    found the label lately and that similarity is above a gate learned online from all young
    labels together (where their additions gained more true positives than 0.35 times the
    micro-F1 exchange rate of false positives; closed while the Hamming budget is spent). On
    dense input young labels follow the tree. A label the Hamming budget leaves out reads the
    leaf model's probability at a second learned threshold, the one of best F1 among those
    that made no more errors than leaving it out (none: it stays out): the budget-threshold
    rule, which is what "left out" means for a label with 5 positives or more, so the budget
    counts the errors of what is predicted.

    Parameters
    ----------
    grace_period
        Weight a leaf must see between split attempts.
    delta
        Split confidence of the Hoeffding bound.
    tau
        Tie threshold: split on the best candidate once the bound falls below it.
    n_split_points
        Candidate thresholds per numeric feature (evenly spaced between the observed extremes).
    max_depth
        Maximum depth of the tree.
    max_leaves
        Leaves (alternates included) above which no leaf splits: bounds memory on long streams.
    learning_rate
        Step size of the leaf logistic units (adaptive: divided by the root of the decayed sum
        of squared gradients of each weight).
    gradient_decay
        Decay of those sums (1 gives AdaGrad; below 1 the step size never vanishes, which keeps
        the leaves tracking drift).
    l2
        L2 penalty of the leaf logistic units.
    n_models
        Members of each leaf's ensemble of chains; with more than one, each member sees each
        instance with an online-bagging weight drawn from Poisson(1).
    n_candidates
        Frequent label sets of a leaf considered, beside the greedy chain decision, when
        ``predict_one`` picks the label set of highest joint probability under the chain
        (0: greedy chain decoding only).
    max_chain_labels
        Above this many labels the leaves use binary relevance instead of a chain
        (a chain costs labels^2 weights).
    drift_delta
        Confidence of each node's ADWIN detector.
    drift_window
        Instances an alternate subtree learns before it may replace or be pruned.
    switch_significance
        Significance of the test that swaps or prunes an alternate subtree.
    sparse
        Input representation. False: a dense vector of every feature seen, absent features are
        missing (imputed), split search on Gaussian estimators. True: only the non-zero
        features, absent features are 0; learning and prediction cost grow with an instance's
        non-zero features, the leaves are per-label logistic regressions on the features
        divided by their running root mean square (a rare word weighs more) and the splits
        are "feature non-zero" vs "zero" (text streams).
        ``"auto"``: sparse when the first instances hold non-zero values for at most a
        quarter of the (at least 64) features seen; the first instances are learnt again in
        the chosen representation.
    calibrated
        Thresholds of the tree's rule. True: per-label decision thresholds learned online
        (per label, on the probabilities seen so far, the threshold of best mean of the
        label's F1 minus 3 times its errors per instance, and of its marginal effect on
        micro-F1). False: 0.5. ``"auto"``: True on sparse input, where a
        fixed 0.5 misses most rare labels, False on dense input, where the chains are well
        calibrated already. Either way the other reading of the same probabilities is one of
        the rules each label may choose.
    naive_bayes
        Whether naive Bayes from the leaf statistics is one of the rules.
    naive_bayes_evidence
        Weight of naive Bayes' log-likelihood ratios in a second decoding of the tree's label
        set on dense leaves (a product of experts: each candidate label set's log-probability
        under the leaf model plus this weight times the ratios of the labels it holds; 0: no
        such decoding). The tree's rule answers with it while it has made fewer label errors
        than the plain decoding and has not matched fewer whole label sets (a sign test at
        half a standard deviation).
    label_set_evidence
        Weight of a Gaussian naive Bayes over whole label sets (a label powerset; at most
        ``SET_BAYES_MAX_SETS`` sets kept, a new one then replacing a set seen only once) in a
        rescoring of the tree's label set on dense input: among that model's
        ``SET_BAYES_CANDIDATES`` most probable label sets and the tree's own, the one of best
        log-probability under the leaf model plus this weight times its log posterior (0: no
        rescoring). The tree's rule answers with it while its summed per-label F1 is higher
        (by 0.01 per label to switch to it) and it has matched at least as many whole label
        sets as the tree's own, over at least 10 instances where exactly one of the two
        matched. While it is not in use it is computed on every third instance only (its
        cost: a few percent of the instances per second on the small dense benchmark sets;
        about a sixth when computed on every instance).
    n_neighbours
        Neighbours of the nearest-neighbour rule (0: no such rule). It suits streams of
        near-duplicate instances whose label sets repeat.
    neighbour_window
        Recent instances the nearest-neighbour rule searches (its memory: this many rows of
        the features seen, dense, or of an instance's non-zeros, sparse).
    hamming_budget
        The label errors the chosen rules may make together, as a fraction of the errors of
        predicting no label (prequential, decayed counts; ``inf``: no budget). Below 1, the
        default, the Hamming loss stays below the empty prediction's. Above 1 it buys F1 of
        rare labels with Hamming loss, on streams where the budget binds (many rare labels:
        birds, cal500, the text sets); elsewhere it changes nothing.
    seed
        Seed of the online-bagging weights.

    Notes
    -----
    ``predict_one`` answers for every label seen so far, and a label never seen reads as False
    (the answer is a ``dict`` whose missing keys give False), so river's multi-output metrics
    and ``evaluate.progressive_val_score`` work from the first instance and when a label first
    appears mid-stream. Before the first ``learn_one`` the answer is empty (river's evaluation
    skips it).

    Examples
    --------
    >>> from river import datasets, metrics
    >>> from streamml.multilabel import MLHAT
    >>> model = MLHAT(seed=1)
    >>> metric = metrics.multioutput.MicroAverage(metrics.F1())
    >>> for x, y in datasets.Yeast().take(300):
    ...     y_pred = model.predict_one(x)  # empty before the first learn_one
    ...     metric.update(y, {label: y_pred.get(label, False) for label in y})
    ...     model.learn_one(x, y)
    >>> metric.get() > 0.5
    True
    >>> model.n_leaves
    1
    """

    def __init__(
        self,
        grace_period: int = 200,
        delta: float = 1e-7,
        tau: float = 0.05,
        n_split_points: int = 10,
        max_depth: int = 16,
        max_leaves: int = 256,
        learning_rate: float = 0.4,
        gradient_decay: float = 0.999,
        l2: float = 0.0,
        n_models: int = 1,
        max_chain_labels: int = 64,
        n_candidates: int = 16,
        drift_delta: float = 0.002,
        drift_window: int = 200,
        switch_significance: float = 0.05,
        sparse: bool | str = "auto",
        calibrated: bool | str = "auto",
        naive_bayes: bool = True,
        naive_bayes_evidence: float = 0.05,
        label_set_evidence: float = 0.3,
        n_neighbours: int = 4,
        neighbour_window: int = 1000,
        hamming_budget: float = HAMMING_BUDGET,
        seed: int | None = None,
    ):
        self.grace_period = grace_period
        self.delta = delta
        self.tau = tau
        self.n_split_points = n_split_points
        self.max_depth = max_depth
        self.max_leaves = max_leaves
        self.learning_rate = learning_rate
        self.gradient_decay = gradient_decay
        self.l2 = l2
        self.n_models = n_models
        self.max_chain_labels = max_chain_labels
        self.n_candidates = n_candidates
        self.drift_delta = drift_delta
        self.drift_window = drift_window
        self.switch_significance = switch_significance
        self.sparse = sparse
        self.calibrated = calibrated
        self.naive_bayes = naive_bayes
        self.naive_bayes_evidence = naive_bayes_evidence
        self.label_set_evidence = label_set_evidence
        self.n_neighbours = n_neighbours
        self.neighbour_window = neighbour_window
        self.hamming_budget = hamming_budget
        self.seed = seed
        self._validate_params()
        self._reset()

    def _reset(self):
        self._features = FeatureSpace()
        self._labels = LabelSpace()
        self._rng = np.random.default_rng(self.seed)
        self._root = None
        self._thresholds = None
        self._nb_thresholds = None
        self._blend_thresholds = None
        self._selector = None
        self._joint = None
        self._decoding = None
        self._set_bayes = None
        self._set_choice = None
        self._young_gate = None
        self._window = None
        self._last_rules = None
        self._sparse_leaves = False
        self._n_seen = 0
        self._n_swaps = 0
        self._mode = {True: "sparse", False: "dense"}.get(self.sparse)
        self._auto_buffer = []
        self._predicted = None

    def _validate_params(self):
        for name in ("grace_period", "n_split_points", "max_depth", "max_leaves", "n_models",
                     "drift_window", "neighbour_window"):
            _check_positive(name, getattr(self, name), integer=True)
        for name in ("learning_rate", "hamming_budget"):
            _check_positive(name, getattr(self, name))
        g = self.gradient_decay
        if isinstance(g, bool) or not isinstance(g, (int, float)) or not 0 < g <= 1:
            raise ValueError(f"gradient_decay must be in (0, 1], got {g!r}")
        for name in ("delta", "drift_delta", "switch_significance"):
            _check_positive(name, getattr(self, name), upper=1)
        if isinstance(self.tau, bool) or not isinstance(self.tau, (int, float)) or self.tau < 0:
            raise ValueError(f"tau must be a number >= 0, got {self.tau!r}")
        if isinstance(self.l2, bool) or not isinstance(self.l2, (int, float)) or self.l2 < 0:
            raise ValueError(f"l2 must be a number >= 0, got {self.l2!r}")
        if not isinstance(self.n_candidates, int) or self.n_candidates < 0:
            raise ValueError(f"n_candidates must be an integer >= 0, got {self.n_candidates!r}")
        if not isinstance(self.max_chain_labels, int) or self.max_chain_labels < 0:
            raise ValueError(
                f"max_chain_labels must be an integer >= 0, got {self.max_chain_labels!r}"
            )
        if not (isinstance(self.sparse, bool) or self.sparse == "auto"):
            raise ValueError(f"sparse must be True, False or 'auto', got {self.sparse!r}")
        if not (isinstance(self.calibrated, bool) or self.calibrated == "auto"):
            raise ValueError(
                f"calibrated must be True, False or 'auto', got {self.calibrated!r}"
            )
        if not isinstance(self.naive_bayes, bool):
            raise ValueError(f"naive_bayes must be True or False, got {self.naive_bayes!r}")
        for name in ("naive_bayes_evidence", "label_set_evidence"):
            w = getattr(self, name)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < np.inf:
                raise ValueError(f"{name} must be a number >= 0, got {w!r}")
        if (isinstance(self.n_neighbours, bool) or not isinstance(self.n_neighbours, int)
                or self.n_neighbours < 0):
            raise ValueError(
                f"n_neighbours must be an integer >= 0, got {self.n_neighbours!r}"
            )
        if self.seed is not None and not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}")

    @classmethod
    def _unit_test_params(cls):
        yield {"seed": 42}
        yield {"grace_period": 20, "tau": 0.5, "n_models": 3, "seed": 1}
        yield {"sparse": True, "grace_period": 20, "tau": 0.5, "n_models": 2, "seed": 2,
               "hamming_budget": 2.0}

    # ------------------------------------------------------------------ public river API
    @property
    def labels(self):
        """Labels seen so far, in order of first appearance."""
        return list(self._labels.names)

    def learn_one(self, x, y):
        predicted, self._predicted = self._predicted, None
        xv, xs, positives, new = _learning_vectors(
            self._features, self._labels, x, y, self._mode == "sparse", predicted
        )
        if new:
            self._add_labels(len(new))
        yv = np.zeros(len(self._labels))
        yv[positives] = 1.0
        self._learn_arrays(xv, xs, yv, positives)
        if self._mode is None:
            self._auto_buffer.append((dict(x), dict(y)))
            if len(self._auto_buffer) >= AUTO_WINDOW:
                self._choose_representation()

    def _choose_representation(self):
        """sparse="auto": keep dense, or start over sparse and learn the buffered instances."""
        buffer, self._auto_buffer = self._auto_buffer, []
        if auto_representation([x for x, _ in buffer], len(self._features)) == "dense":
            self._mode = "dense"
            return
        self._reset()
        self._mode = "sparse"
        for x, y in buffer:
            self.learn_one(x, y)

    def _vectors(self, x):
        """(raw, scaled) vectors of ``x`` for prediction (no feature is added); kept for a
        ``learn_one`` of the same instance next."""
        self._predicted = self._features.prediction_vectors(x, self._mode == "sparse")
        return self._predicted

    def predict_proba_one(self, x, **kwargs):
        proba = self._proba_arrays(*self._vectors(x)).tolist()
        return LabelProbabilities(
            zip(self._labels.names, [{False: 1.0 - p, True: p} for p in proba])
        )

    def predict_one(self, x, **kwargs):
        labels = self._decide_arrays(*self._vectors(x))
        return LabelDecisions(zip(self._labels.names, (labels > 0.5).tolist()))

    def _proba_from_dict(self, x):
        return self._proba_arrays(*self._vectors(x))

    # ------------------------------------------------------------------ array API (used by IHOMER)
    def _new_leaf(self, depth, n_labels, n_features, model=None):
        if self._sparse_leaves:
            if model is None:
                model = _sparse.SparseLogisticModel(self.n_models, n_labels, n_features)
            return _sparse.SparseLeaf(depth, n_labels, n_features, model, self.drift_delta)
        if model is None:
            use_chain = n_labels <= self.max_chain_labels
            model = _tree.ChainModel(self.n_models, n_labels, n_features, use_chain)
        return _tree.Leaf(depth, n_labels, n_features, model, self.drift_delta)

    def _add_labels(self, n_new):
        """Grow every leaf by ``n_new`` labels (labels appearing mid-stream)."""
        if self._last_rules is not None:
            # The last answer, given before these labels existed, did not predict them.
            n_seen, xv, ctx, (decisions, tree_proba, nb_proba, leaf, blend, per_label) = (
                self._last_rules)
            pad = np.zeros(n_new)
            self._last_rules = (n_seen, xv, ctx, (
                np.pad(decisions, ((0, 0), (0, n_new))), np.concatenate([tree_proba, pad]),
                None if nb_proba is None else np.concatenate([nb_proba, pad]), leaf,
                None if blend is None else np.concatenate([blend, pad]),
                np.concatenate([per_label, pad]),
            ))
        if self._root is None:
            return
        self._thresholds.add_labels(n_new)
        self._nb_thresholds.add_labels(n_new)
        if self._blend_thresholds is not None:
            self._blend_thresholds.add_labels(n_new)
        self._selector.add_labels(n_new)
        if self._set_bayes is not None:
            self._set_bayes.add_labels(n_new)
            self._set_choice.add_labels(n_new)
        if self._window is not None:
            self._window.add_labels(n_new)
        for node in _tree.iter_nodes(self._root):
            if node.is_leaf:
                node.add_labels(n_new)
                if node.model.use_chain and node.n_labels > self.max_chain_labels:
                    node.model.drop_chain()

    def _learn_arrays(self, xv, xs, yv, positives, ctx=None):
        """Learn from raw ``xv`` (NaN = missing), standardized ``xs`` and 0/1 labels ``yv``.

        ``ctx`` (optional) are extra 0/1 inputs of the leaf models only (IHOMER passes the
        labels of the clusters chained before this one).
        """
        if self._root is None:
            self._sparse_leaves = isinstance(xv, SparseVector)
            self._thresholds = LabelThresholds(
                len(yv), fallback_fraction=BUDGET_THRESHOLD_ERRORS
            )
            self._nb_thresholds = LabelThresholds(len(yv))
            if self._young_nearest:
                self._blend_thresholds = LabelThresholds(len(yv), error_weight=BLEND_ERROR_WEIGHT)
            self._selector = RuleSelector(
                N_RULES, len(yv),
                young_rule=RULE_TREE_OR_NEAREST if self._young_nearest else RULE_TREE,
                fallback_only_from=RULE_BUDGET, hamming_budget=float(self.hamming_budget),
                scored_never=False,
            )
            self._joint = JointChoice()
            self._decoding = DecodingChoice()
            if not self._sparse_leaves and self.label_set_evidence > 0:
                self._set_bayes, self._set_choice = _set_decoding(len(yv))
            if self._young_nearest:
                self._young_gate = YoungLabelGate()
            if self.n_neighbours > 0:
                self._window = NeighbourWindow(
                    self.neighbour_window, self.n_neighbours, self._sparse_leaves, len(yv)
                )
            self._root = self._new_leaf(0, len(yv), len(xv))
        decisions, tree_proba, nb_proba, leaf, blend, per_label = self._rule_decisions(
            xv, xs, ctx)
        self._n_seen += 1
        if self.n_models > 1:
            member_weights = self._rng.poisson(1.0, self.n_models).astype(np.float64)
        else:
            member_weights = _ONE_MEMBER
        main = self._main_leaf(self._root, xv)
        proba = tree_proba if main is leaf else main.proba(xs, ctx)
        loss = self._hamming(proba, yv)
        self._thresholds.record(proba, yv)
        if nb_proba is not None:
            self._nb_thresholds.record(nb_proba, yv)
        if blend is not None:
            self._blend_thresholds.record(blend, yv)
        self._joint.record(per_label, decisions[ROW_NEAREST_SET], yv)
        self._decoding.record(decisions[ROW_TREE_PLAIN], decisions[ROW_TREE_EVIDENCE], yv)
        if self._set_bayes is not None:
            self._set_choice.record(decisions[ROW_TREE_OWN], decisions[ROW_TREE_SETS], yv)
            self._set_bayes.add(xv, yv)
        if self._young_gate is not None:
            self._young_gate.add(decisions[ROW_YOUNG_ADDITIONS], yv, self._window.cosine,
                                 self._selector)
        self._selector.record(decisions[:N_RULES], yv)
        self._root = self._learn_node(
            self._root, xv, xs, yv, positives, member_weights, loss, ctx
        )
        if self._window is not None:
            self._window.add(xv, xs, yv)

    @property
    def _young_nearest(self):
        """Whether young labels follow the tree's decision or the nearest neighbour's label
        (sparse input with a neighbour window)."""
        return self._sparse_leaves and self.n_neighbours > 0

    @property
    def _calibrated(self):
        """Whether decisions use the learned thresholds ("auto": on sparse leaves only)."""
        if self.calibrated == "auto":
            return self._sparse_leaves
        return self.calibrated

    def _hamming(self, proba, yv):
        if len(yv) == 0:
            return 0.0
        thresholds = self._thresholds.thresholds if self._calibrated else None
        return _kernels.label_errors(proba, thresholds, yv) / len(yv)

    @staticmethod
    def _main_leaf(node, xv):
        while not node.is_leaf:
            node = node.children[node.branch(xv)]
        return node

    def _learn_node(self, node, xv, xs, yv, positives, member_weights, loss, ctx):
        """Learn in the subtree at ``node``; returns the node that replaces it."""
        old_error = node.adwin.estimation
        node.adwin.update(loss)
        if (
            node.alt is None
            and node.adwin.drift_detected
            and node.adwin.estimation > old_error
            and node.n >= self.grace_period
        ):
            node.alt = self._new_leaf(node.depth, len(yv), len(xv))

        if node.alt is not None:
            alt_loss = self._hamming(self._subtree_proba(node.alt, xv, xs, ctx), yv)
            node.alt = self._learn_node(
                node.alt, xv, xs, yv, positives, member_weights, alt_loss, ctx
            )
            node.alt_n += 1
            node.alt_loss_main += loss
            node.alt_loss_alt += alt_loss

        if node.is_leaf:
            node.observe(
                xv, xs, yv, positives, 1.0, member_weights, self.learning_rate, self.l2,
                self.gradient_decay, ctx,
            )
            replacement = node
            if node.n % 25 == 0 or len(node.candidates) == 0:
                node.refresh_candidates(self.n_candidates)
            if node.n - node.n_last_attempt >= self.grace_period:
                node.n_last_attempt = node.n
                replacement = self._attempt_split(node)
        else:
            node.n += 1.0
            c = node.branch(xv)
            node.child_weights[c] += 1.0
            node.children[c] = self._learn_node(
                node.children[c], xv, xs, yv, positives, member_weights, loss, ctx
            )
            replacement = node

        if replacement.alt is not None and replacement.alt_n >= self.drift_window:
            replacement = self._settle_alternate(node, replacement)
        return replacement

    def _settle_alternate(self, node, replacement):
        """Swap in or prune the alternate subtree (``replacement`` carries it after a split)."""
        n = replacement.alt_n
        main = replacement.alt_loss_main / n
        alt = replacement.alt_loss_alt / n
        spread = max(main * (1.0 - main), alt * (1.0 - alt), 1e-6)
        bound = np.sqrt(2.0 * spread * np.log(2.0 / self.switch_significance) * (2.0 / n))
        if main - alt > bound:
            self._n_swaps += 1
            return replacement.alt
        if alt - main > bound:
            replacement.reset_alt()
        return replacement

    def _attempt_split(self, leaf):
        if len(leaf.labelsets) < 2 or leaf.depth >= self.max_depth:
            return leaf
        if self.n_leaves >= self.max_leaves:
            return leaf
        gains, feats, thresholds = leaf.best_splits(self.n_split_points)
        if len(gains) == 0:
            return leaf
        order = np.argsort(gains)[::-1]
        best = gains[order[0]]
        second = gains[order[1]] if len(order) > 1 else 0.0
        eps = _tree.hoeffding_bound(
            _tree.labelset_range(len(leaf.labelsets)), self.delta, leaf.n
        )
        if best <= 0.0 or not (best - second > eps or eps < self.tau):
            return leaf
        f = int(feats[order[0]])
        threshold = float(thresholds[order[0]])
        n_labels, n_features = leaf.n_labels, 0  # children grow their features as they learn
        children = [
            self._new_leaf(leaf.depth + 1, n_labels, n_features, leaf.model.copy())
            for _ in range(2)
        ]
        for child in children:
            child.candidates = leaf.candidates.copy()
        weights = leaf.branch_weights(f, threshold)
        split = _tree.Split(leaf.depth, f, threshold, children, weights, self.drift_delta)
        split.n = leaf.n
        split.adwin = leaf.adwin
        split.alt, split.alt_n = leaf.alt, leaf.alt_n
        split.alt_loss_main, split.alt_loss_alt = leaf.alt_loss_main, leaf.alt_loss_alt
        return split

    def _collect_leaves(self, node, xv, out):
        if node.alt is not None:
            self._collect_leaves(node.alt, xv, out)
        while not node.is_leaf:
            node = node.children[node.branch(xv)]
            if node.alt is not None:
                self._collect_leaves(node.alt, xv, out)
        out.append(node)

    def _subtree_proba(self, node, xv, xs, ctx=None):
        leaves = []
        self._collect_leaves(node, xv, leaves)
        main = leaves[-1]
        if len(leaves) == 1:
            return main.proba(xs, ctx)
        weights = np.array([leaf.hamming_weight() for leaf in leaves])
        if weights.sum() <= 0:
            return main.proba(xs, ctx)
        total = np.zeros(main.n_labels)
        for leaf, w in zip(leaves, weights):
            if w > 0:
                total += w * leaf.proba(xs, ctx)
        return total / weights.sum()

    def _tree_decide(self, xv, xs, ctx, nb_proba=None):
        """The tree's label sets decoded without and with the naive-Bayes evidence (0/1
        vectors), the probabilities and the leaf they come from: joint-mode decoding at the
        most reliable leaf reached. ``nb_proba``: the main leaf's naive-Bayes probabilities,
        when known.

        The evidence (dense leaves of at least ``EVIDENCE_MIN_WEIGHT`` instances): per label,
        ``naive_bayes_evidence`` times naive Bayes' log-likelihood ratio (its log-odds minus
        the leaf's prior log-odds), added to the leaf model's log-odds of every candidate label
        set holding the label (a product of experts, the naive-Bayes factor tempered: its
        features are the leaf model's, and its independence assumption makes it overconfident).
        """
        leaves = []
        self._collect_leaves(self._root, xv, leaves)
        best = leaves[-1]
        if len(leaves) > 1:
            weights = [leaf.hamming_weight() for leaf in leaves]
            if max(weights) > 0:
                best = leaves[int(np.argmax(weights))]
        proba = best.proba(xs, ctx)
        thresholds = self._thresholds if self._calibrated else None
        evidence = shifted = None
        if (self.naive_bayes_evidence > 0 and not self._sparse_leaves
                and best.n >= EVIDENCE_MIN_WEIGHT):
            if nb_proba is None or best is not leaves[-1]:
                nb_proba = best.nb_proba(xv)
            evidence = np.empty(len(proba))
            shifted = np.empty(len(proba))
            _kernels.evidence_shift(proba, nb_proba, best.positives, best.n,
                                    float(self.naive_bayes_evidence), evidence, shifted)
        plain, with_evidence = best.decide_with_evidence(xs, ctx, thresholds, proba, evidence,
                                                         shifted)
        return plain, with_evidence, proba, best

    def _rule_decisions(self, xv, xs, ctx=None):
        """The decisions of every rule (``N_RULES`` x labels, and the rows after them), the
        tree's and naive Bayes' probabilities, the leaf, the blend's probabilities and the
        per-label answer (each label's chosen rule). The last instance's answer is kept:
        ``learn_one`` right after ``predict_one`` on the same instance does not compute it
        twice (the choices only change as ``learn_one`` counts it)."""
        key = (self._n_seen, xv, ctx)
        last = self._last_rules
        if last is not None and last[0] == self._n_seen and _same_vector(last[1], xv) and (
            _same_vector(last[2], ctx)
        ):
            return last[3]
        n_labels = self._selector.choice.shape[0]
        # The rules' rows, then ROW_NEAREST_SET ... ROW_TREE_SETS (see their definition).
        decisions = np.zeros((N_ROWS, n_labels))
        nb_proba = None
        if self.naive_bayes or (self.naive_bayes_evidence > 0 and not self._sparse_leaves):
            nb_proba = self._main_leaf(self._root, xv).nb_proba(xv)
        plain, with_evidence, tree_proba, leaf = self._tree_decide(xv, xs, ctx, nb_proba)
        decisions[ROW_TREE_PLAIN] = plain
        decisions[ROW_TREE_EVIDENCE] = with_evidence
        decisions[ROW_TREE_OWN] = with_evidence if self._decoding.use_evidence else plain
        decisions[ROW_TREE_SETS] = decisions[ROW_TREE_OWN]
        use_sets = self._set_choice is not None and self._set_choice.use_sets
        if self._set_bayes is not None and (
            use_sets or self._n_seen % SET_BAYES_IDLE_EVERY == 0
        ):
            self._set_decode(xv, xs, ctx, leaf, decisions[ROW_TREE_SETS])
        decisions[RULE_TREE] = decisions[ROW_TREE_SETS if use_sets else ROW_TREE_OWN]
        if self._calibrated:
            decisions[RULE_TREE_OTHER] = tree_proba > 0.5
        else:
            self._thresholds.decide(tree_proba, out=decisions[RULE_TREE_OTHER])
        if self.naive_bayes:
            self._nb_thresholds.decide(nb_proba, out=decisions[RULE_NAIVE_BAYES])
        else:
            nb_proba = None
        if self._window is not None:
            decisions[RULE_NEIGHBOURS] = self._window.proba(xv, xs) > 0.5
            decisions[ROW_NEAREST_SET] = self._window.nearest_labels
        tree = decisions[RULE_TREE]
        decisions[RULE_TREE_OR_NEAREST] = tree
        self._thresholds.decide(tree_proba, out=decisions[RULE_BUDGET], fallback=True)
        blend = None
        if self._young_nearest:
            w = self._window
            blend = (tree_proba + NEAREST_BLEND * w.cosine * w.cosine_labels) / (
                1.0 + NEAREST_BLEND)
            self._blend_thresholds.decide(blend, out=decisions[RULE_BLEND])
        else:
            decisions[RULE_BLEND] = tree
        if self._young_nearest:
            selector = self._selector
            added = decisions[ROW_YOUNG_ADDITIONS]
            n_added = _kernels.young_additions(
                self._window.cosine_labels, tree, selector.positives, selector.tp[RULE_TREE],
                selector.min_positives, added,
            )
            if n_added and self._young_gate.open(self._window.cosine):
                np.maximum(tree, added, out=decisions[RULE_TREE_OR_NEAREST])
        out = (decisions, tree_proba, nb_proba, leaf, blend,
               self._selector.decide(decisions[:N_RULES]))
        self._last_rules = (key[0], _copy_vector(xv), _copy_vector(ctx), out)
        return out

    def _set_decode(self, xv, xs, ctx, leaf, row):
        """Rescore the tree's label set (``row``, updated in place) against the label sets of
        :class:`LabelSetBayes`: the candidate of highest leaf-model joint log-probability plus
        ``label_set_evidence`` times the label-set naive Bayes' log posterior, among the
        ``SET_BAYES_CANDIDATES`` sets of highest posterior and the tree's own (which reads the
        lowest stored posterior, or its own where stored). A product of experts at the
        level of whole label sets: the leaf model's chain and a label powerset, which ranks
        the sets of rarer labels differently."""
        if leaf.model.n_updates == 0 or (len(leaf.labelsets) == 1 and not leaf.inherited):
            return
        self._set_bayes.decode(xv, xs, row, float(self.label_set_evidence), leaf.model, ctx)

    def _decide_arrays(self, xv, xs, ctx=None):
        """0/1 label vector: per label, the decision of the rule chosen for it."""
        if self._root is None:
            return np.zeros(len(self._labels))
        decisions, _, _, _, _, per_label = self._rule_decisions(xv, xs, ctx)
        if self._joint.use_neighbour:
            return decisions[ROW_NEAREST_SET].copy()
        return per_label.copy()

    def _proba_arrays(self, xv, xs, ctx=None):
        if self._root is None:
            return np.zeros(len(self._labels))
        return self._subtree_proba(self._root, xv, xs, ctx)

    def _restricted_copy(self, positions):
        """Deep copy that keeps only the labels at ``positions`` (in that order)."""
        twin = copy.deepcopy(self)
        if twin._root is not None:
            twin._thresholds.select_labels(positions)
            twin._nb_thresholds.select_labels(positions)
            if twin._blend_thresholds is not None:
                twin._blend_thresholds.select_labels(positions)
            twin._selector.select_labels(positions)
            twin._joint = JointChoice()  # its counts were of the whole label set
            twin._decoding = DecodingChoice()
            if twin._set_bayes is not None:  # its label sets were of the whole label set
                twin._set_bayes, twin._set_choice = _set_decoding(len(positions))
            twin._last_rules = None
            if twin._window is not None:
                twin._window.select_labels(positions)
            for node in _tree.iter_nodes(twin._root):
                if node.is_leaf:
                    node.select_labels(positions)
        names = [twin._labels.names[p] for p in positions if p < len(twin._labels.names)]
        if len(names) == len(positions):
            twin._labels.names = names
            twin._labels.index = {name: i for i, name in enumerate(names)}
        return twin

    # ------------------------------------------------------------------ inspection
    @property
    def n_nodes(self):
        """Nodes of the main tree and of its alternate subtrees."""
        return 0 if self._root is None else sum(1 for _ in _tree.iter_nodes(self._root))

    @property
    def n_leaves(self):
        """Leaves of the main tree and of its alternate subtrees."""
        if self._root is None:
            return 0
        return sum(1 for n in _tree.iter_nodes(self._root) if n.is_leaf)

    @property
    def height(self):
        """Depth of the deepest leaf (0 for a single leaf)."""
        if self._root is None:
            return 0
        return max(n.depth for n in _tree.iter_nodes(self._root) if n.is_leaf)

    @property
    def n_alternate_swaps(self):
        """Alternate subtrees that replaced the subtree they were grown for."""
        return self._n_swaps

    def _absorb_labels(self, source, positions):
        """Append the labels at ``positions`` of ``source`` (another MLHAT of the same input
        kind), with their learned state: every leaf of this tree takes the weights and label
        statistics of ``source``'s busiest leaf (one and the same leaf when, as on sparse
        streams, the trees are single leaves), and the decision thresholds follow."""
        n_old = len(self._thresholds) if self._thresholds is not None else 0
        self._add_labels(len(positions))
        if self._root is None or source._root is None:
            return
        donor = max((n for n in _tree.iter_nodes(source._root) if n.is_leaf),
                    key=lambda leaf: leaf.n)
        dst = list(range(n_old, n_old + len(positions)))
        for node in _tree.iter_nodes(self._root):
            if node.is_leaf:
                node.take_labels(donor, list(positions), dst)
        # Every per-label threshold table follows its labels.
        for name, table in vars(self).items():
            if isinstance(table, LabelThresholds):
                table.take_labels(getattr(source, name), list(positions), dst)
