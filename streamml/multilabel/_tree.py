"""Nodes, split search and leaf models of the multi-label Hoeffding adaptive tree.

Orchestration layer: plain Python over NumPy arrays, calling the numba kernels of
``_kernels.py`` for the per-instance loops. The estimator (``mlhat.py``) owns validation.
"""

import math

import numpy as np
from river import drift
from scipy.special import ndtr

from . import _kernels

# Gaussian naive Bayes: variance added to each class's, relative to the feature's variance.
NB_VAR_FLOOR = 0.01

# Cap on the distinct label sets a leaf counts (keeps leaf memory bounded on long streams).
MAX_LABELSETS = 1024


def _pad_cols(a, n):
    """``a`` with its last axis zero-padded to ``n``."""
    extra = n - a.shape[-1]
    if extra <= 0:
        return a
    pad = [(0, 0)] * (a.ndim - 1) + [(0, extra)]
    return np.pad(a, pad)


class ContextInputs:
    """Weights on outside 0/1 inputs added to a leaf model's logits (IHOMER: the labels of the
    clusters chained before this one). Subclasses own ``intercept``, ``context`` and
    ``acc_context`` arrays (members, labels, ...)."""

    def _intercept(self, ctx):
        """Intercepts shifted by the context inputs (a fresh array when there is a context)."""
        if ctx is None or len(ctx) == 0:
            return self.intercept
        if self.context.shape[2] < len(ctx):
            self.context = _pad_cols(self.context, len(ctx))
            self.acc_context = _pad_cols(self.acc_context, len(ctx))
        return self.intercept + self.context[:, :, : len(ctx)] @ ctx

    def _learn_context(self, shifted, before, errors, ctx, lr, l2, decay):
        """Carry the intercept step made on ``shifted`` over and step the context weights."""
        self.intercept += shifted - before
        # Same adaptive rule as the chain weights, on the context inputs.
        n_ctx = len(ctx)
        lr_ctx = lr / math.sqrt(max(n_ctx, 1))
        w = self.context[:, :, :n_ctx]
        g = errors[:, :, None] * ctx[None, None, :] + l2 * w
        active = g != 0.0
        acc = self.acc_context[:, :, :n_ctx]
        acc[active] = decay * acc[active] + g[active] ** 2
        w[active] -= lr_ctx * g[active] / (np.sqrt(acc[active]) + 1e-8)


class ChainModel(ContextInputs):
    """Ensemble of logistic classifier chains over standardized features (a leaf predictor).

    ``use_chain=False`` gives binary relevance of logistic regressions.
    """

    def __init__(self, n_members, n_labels, n_features, use_chain):
        self.coef = np.zeros((n_members, n_labels, n_features))
        self.intercept = np.zeros((n_members, n_labels))
        self.chain = np.zeros((n_members, n_labels, n_labels if use_chain else 0))
        self.use_chain = use_chain
        self.n_updates = 0.0
        self._scratch = np.zeros((n_members, n_labels))
        # Context: weights on outside 0/1 inputs (IHOMER: labels of the clusters before this one).
        self.context = np.zeros((n_members, n_labels, 0))
        self._init_accumulators()

    def _init_accumulators(self):
        self.acc_coef = np.zeros_like(self.coef)
        self.acc_intercept = np.zeros_like(self.intercept)
        self.acc_chain = np.zeros_like(self.chain)
        self.acc_context = np.zeros_like(self.context)

    @property
    def n_labels(self):
        return self.coef.shape[1]

    def copy(self):
        twin = ChainModel.__new__(ChainModel)
        twin.coef = self.coef.copy()
        twin.intercept = self.intercept.copy()
        twin.chain = self.chain.copy()
        twin.use_chain = self.use_chain
        twin.n_updates = self.n_updates
        twin._scratch = self._scratch.copy()
        twin.acc_coef = self.acc_coef.copy()
        twin.acc_intercept = self.acc_intercept.copy()
        twin.acc_chain = self.acc_chain.copy()
        twin.context = self.context.copy()
        twin.acc_context = self.acc_context.copy()
        return twin

    def _fit_features(self, n_features):
        if self.coef.shape[2] < n_features:
            self.coef = _pad_cols(self.coef, n_features)
            self.acc_coef = _pad_cols(self.acc_coef, n_features)

    def proba(self, xs, ctx=None):
        self._fit_features(len(xs))
        out = np.empty(self.n_labels)
        _kernels.chain_logits(
            xs, self.coef, self._intercept(ctx), self.chain, self.use_chain, out, self._scratch
        )
        return out

    def joint_log_proba(self, xs, candidates, ctx=None):
        """Mean over members of log P(label set | x) under the chain, per candidate row."""
        self._fit_features(len(xs))
        out = np.empty(len(candidates))
        _kernels.chain_joint_log_proba(
            xs, self.coef, self._intercept(ctx), self.chain, self.use_chain, candidates, out
        )
        return out

    def learn(self, xs, y, member_weights, lr, l2, decay, ctx=None):
        self._fit_features(len(xs))
        intercept = self._intercept(ctx)
        shifted = intercept is not self.intercept
        before = intercept.copy() if shifted else None
        errors = self._scratch
        _kernels.chain_sgd(
            xs, y, member_weights, self.coef, intercept, self.chain, self.use_chain, lr,
            lr / math.sqrt(max(len(xs), 1)), l2,
            self.acc_coef, self.acc_intercept, self.acc_chain, decay, errors,
        )
        if shifted:
            self._learn_context(intercept, before, errors, ctx, lr, l2, decay)
        self.n_updates += 1.0

    def add_labels(self, n_new):
        e, n_labels, n_features = self.coef.shape
        self.coef = np.concatenate([self.coef, np.zeros((e, n_new, n_features))], axis=1)
        self.intercept = np.concatenate([self.intercept, np.zeros((e, n_new))], axis=1)
        if self.use_chain:
            total = n_labels + n_new
            chain = np.zeros((e, total, total))
            chain[:, :n_labels, :n_labels] = self.chain
            self.chain = chain
        else:
            self.chain = np.zeros((e, n_labels + n_new, 0))
        self._scratch = np.zeros((e, n_labels + n_new))
        acc_coef, acc_int, acc_chain = self.acc_coef, self.acc_intercept, self.acc_chain
        acc_ctx = self.acc_context
        self.context = np.concatenate(
            [self.context, np.zeros((e, n_new, self.context.shape[2]))], axis=1
        )
        self._init_accumulators()
        self.acc_context[:, :n_labels] = acc_ctx
        self.acc_coef[:, :n_labels] = acc_coef
        self.acc_intercept[:, :n_labels] = acc_int
        if self.use_chain:
            self.acc_chain[:, :n_labels, :n_labels] = acc_chain

    def drop_chain(self):
        """Switch to binary relevance (keeps the per-label weights)."""
        self.use_chain = False
        self.chain = np.zeros((self.coef.shape[0], self.coef.shape[1], 0))
        self.acc_chain = np.zeros_like(self.chain)

    def select_labels(self, idx):
        idx = np.asarray(idx, dtype=np.int64)
        self.coef = np.ascontiguousarray(self.coef[:, idx])
        self.intercept = np.ascontiguousarray(self.intercept[:, idx])
        if self.use_chain:
            self.chain = np.ascontiguousarray(self.chain[:, idx][:, :, idx])
            # Keep the chain strictly lower triangular in the new order.
            self.chain *= np.tril(np.ones((len(idx), len(idx))), -1)[None]
        else:
            self.chain = np.zeros((self.coef.shape[0], len(idx), 0))
        self._scratch = np.zeros((self.coef.shape[0], len(idx)))
        self.context = np.ascontiguousarray(self.context[:, idx])
        self.acc_context = np.ascontiguousarray(self.acc_context[:, idx])
        self.acc_coef = np.ascontiguousarray(self.acc_coef[:, idx])
        self.acc_intercept = np.ascontiguousarray(self.acc_intercept[:, idx])
        if self.use_chain:
            self.acc_chain = np.ascontiguousarray(self.acc_chain[:, idx][:, :, idx])
        else:
            self.acc_chain = np.zeros_like(self.chain)

    def take_labels(self, source, src, dst):
        """Copy the per-label weights of labels ``src`` of ``source`` (a ChainModel) into
        labels ``dst`` of this one; chain weights to and from them stay 0."""
        n_features = max(self.coef.shape[2], source.coef.shape[2])
        self._fit_features(n_features)
        width = source.coef.shape[2]
        self.coef[:, dst, :width] = source.coef[:, src]
        self.acc_coef[:, dst, :width] = source.acc_coef[:, src]
        self.intercept[:, dst] = source.intercept[:, src]
        self.acc_intercept[:, dst] = source.acc_intercept[:, src]


class Node:
    """State shared by leaves and split nodes: drift detector and alternate subtree."""

    def __init__(self, depth, drift_delta):
        self.depth = depth
        self.n = 0.0
        self.adwin = drift.ADWIN(delta=drift_delta)
        self.alt = None
        self.alt_n = 0
        self.alt_loss_main = 0.0
        self.alt_loss_alt = 0.0

    def reset_alt(self):
        self.alt = None
        self.alt_n = 0
        self.alt_loss_main = 0.0
        self.alt_loss_alt = 0.0


class Leaf(Node):
    """Leaf: Bernoulli label statistics, Gaussian split statistics and a leaf model.

    Row 0 of ``count / mean / m2`` holds every instance, row 1 + l the instances with label l.
    """

    is_leaf = True

    def __init__(self, depth, n_labels, n_features, model, drift_delta):
        super().__init__(depth, drift_delta)
        self.count = np.zeros((n_labels + 1, n_features))
        self.mean = np.zeros((n_labels + 1, n_features))
        self.m2 = np.zeros((n_labels + 1, n_features))
        self.fmin = np.full(n_features, np.inf)
        self.fmax = np.full(n_features, -np.inf)
        self.positives = np.zeros(n_labels)
        self.n_empty = 0.0
        self.labelsets = {}
        self.n_last_attempt = 0.0
        self.candidates = np.zeros((0, n_labels))
        # decide(): (the candidates it was made from, their rows below a free first row).
        self._decide_rows = None
        self.model = model
        self.inherited = model.n_updates > 0

    @property
    def n_labels(self):
        return len(self.positives)

    def fit_features(self, n_features):
        if self.count.shape[1] < n_features:
            extra = n_features - self.count.shape[1]
            self.count = _pad_cols(self.count, n_features)
            self.mean = _pad_cols(self.mean, n_features)
            self.m2 = _pad_cols(self.m2, n_features)
            self.fmin = np.concatenate([self.fmin, np.full(extra, np.inf)])
            self.fmax = np.concatenate([self.fmax, np.full(extra, -np.inf)])

    def add_labels(self, n_new):
        f = self.count.shape[1]
        self.count = np.concatenate([self.count, np.zeros((n_new, f))])
        self.mean = np.concatenate([self.mean, np.zeros((n_new, f))])
        self.m2 = np.concatenate([self.m2, np.zeros((n_new, f))])
        self.positives = np.concatenate([self.positives, np.zeros(n_new)])
        self.candidates = np.pad(self.candidates, ((0, 0), (0, n_new)))
        self.model.add_labels(n_new)
        # Label sets are stored as tuples of label indices: existing keys stay valid.

    def select_labels(self, idx):
        rows = np.concatenate([[0], 1 + np.asarray(idx, dtype=np.int64)])
        self.count = np.ascontiguousarray(self.count[rows])
        self.mean = np.ascontiguousarray(self.mean[rows])
        self.m2 = np.ascontiguousarray(self.m2[rows])
        self.positives = self.positives[np.asarray(idx, dtype=np.int64)].copy()
        self.candidates = np.unique(self.candidates[:, np.asarray(idx, dtype=np.int64)], axis=0)
        self.model.select_labels(idx)
        remap = {int(old): new for new, old in enumerate(idx)}
        labelsets = {}
        for key, c in self.labelsets.items():
            new_key = tuple(sorted(remap[i] for i in key if i in remap))
            labelsets[new_key] = labelsets.get(new_key, 0.0) + c
        self.labelsets = labelsets
        self.n_empty = labelsets.get((), 0.0)

    def take_labels(self, source, src, dst):
        """Copy the statistics and weights of labels ``src`` of leaf ``source`` (another
        learner's leaf of the same kind) into labels ``dst`` of this leaf (IHOMER's warm start
        of a cluster gathering labels of several old clusters). The joint label-set counts
        cannot be joined, so they start over (the frequent label sets are counted again)."""
        self.fit_features(source.count.shape[1])
        width = source.count.shape[1]
        rows_src = 1 + np.asarray(src, dtype=np.int64)
        rows_dst = 1 + np.asarray(dst, dtype=np.int64)
        for name in ("count", "mean", "m2"):
            getattr(self, name)[rows_dst, :width] = getattr(source, name)[rows_src]
        self._take_label_counts(source, src, dst)

    def _take_label_counts(self, source, src, dst):
        # Label counts in this leaf's weight scale, so the frequencies carry over.
        scale = self.n / source.n if source.n > 0 else 0.0
        self.positives[dst] = source.positives[src] * scale
        self.model.take_labels(source.model, src, dst)
        self.labelsets = {}
        self.n_empty = 0.0
        self.candidates = np.zeros((0, self.n_labels))

    def observe(self, xv, xs, y, positives, weight, member_weights, lr, l2, decay, ctx=None):
        self.fit_features(len(xv))
        _kernels.leaf_observe(self.count, self.mean, self.m2, self.fmin, self.fmax,
                              np.asarray(positives, dtype=np.int64), xv, weight)
        self._learn_labels(xs, y, positives, weight, member_weights, lr, l2, decay, ctx)

    def _learn_labels(self, xs, y, positives, weight, member_weights, lr, l2, decay, ctx):
        """The label statistics (counts, positives, label sets) and the leaf model's step,
        shared by every kind of leaf."""
        self.n += weight
        if weight == 1.0:
            self.positives += y  # the same sums, without a scaled copy of y
        else:
            self.positives += weight * y
        key = tuple(positives)
        if not key:
            self.n_empty += weight
        if key in self.labelsets:
            self.labelsets[key] += weight
        elif len(self.labelsets) < MAX_LABELSETS:
            self.labelsets[key] = weight
        self.model.learn(xs, y, member_weights, lr, l2, decay, ctx)

    def refresh_candidates(self, n_candidates):
        """The ``n_candidates`` most frequent label sets of this leaf as 0/1 rows."""
        if not self.labelsets:
            return
        top = sorted(self.labelsets.items(), key=lambda kv: -kv[1])[:n_candidates]
        cand = np.zeros((len(top), self.n_labels))
        for r, (key, _) in enumerate(top):
            cand[r, list(key)] = 1.0
        self.candidates = cand

    def decide(self, xs, ctx=None, thresholds=None, proba=None):
        """Predicted label set (0/1 vector): the per-label decisions (``thresholds``, a
        :class:`LabelThresholds`, or 0.5) and the leaf's frequent label sets compete under the
        model's joint probability. ``proba``: this leaf's probabilities, when known."""
        return self.decide_with_evidence(xs, ctx, thresholds, proba)[0]

    def decide_with_evidence(self, xs, ctx=None, thresholds=None, proba=None, evidence=None,
                             shifted=None):
        """(:meth:`decide`'s label set, the label set decoded with ``evidence`` added).

        ``evidence``: per-label log-odds added to the model's, ``shifted`` the probabilities
        they make of ``proba`` (``_kernels.evidence_shift``); None: no evidence, both answers
        are the same vector. The second answer is the best of the same candidates, plus the
        per-label decisions of the shifted log-odds, under the model's joint log-probability
        plus the evidence of the labels each candidate holds (a product of experts: the leaf
        model times another model's likelihood ratios). The first answer is exactly
        :meth:`decide`'s (its candidates scored alike, the extra row left out).
        """
        if proba is None:
            proba = self.proba(xs, ctx)
        greedy = self._greedy(proba, thresholds)
        if len(self.candidates) == 0 or self.model.n_updates == 0 or (
            len(self.labelsets) == 1 and not self.inherited
        ):
            return greedy, greedy
        made = self._decide_rows
        if made is None or made[0] is not self.candidates:  # candidates replaced since
            rows = np.empty((len(self.candidates) + 2, self.candidates.shape[1]))
            rows[2:] = self.candidates
            made = self._decide_rows = (self.candidates, rows)
        rows = made[1]
        rows[0] = greedy
        if evidence is None:
            cands = rows[1:]
            cands[0] = greedy
            score = self.model.joint_log_proba(xs, cands, ctx)
            best = cands[int(np.argmax(score))].copy()
            return best, best
        rows[1] = self._greedy(shifted, thresholds)
        score = self.model.joint_log_proba(xs, rows, ctx)
        first, second = _kernels.evidence_decodings(score, rows, evidence)
        return rows[first].copy(), rows[second].copy()

    @staticmethod
    def _greedy(proba, thresholds):
        if thresholds is None:
            return (proba > 0.5).astype(np.float64)
        return thresholds.decide(proba)

    def proba(self, xs, ctx=None):
        if len(self.labelsets) == 1 and not self.inherited:
            # Only one label set seen so far: predict it (majority label set).
            return self.positives / self.n
        if self.model.n_updates == 0:
            return np.zeros(self.n_labels)
        return self.model.proba(xs, ctx)

    def nb_proba(self, xv):
        """Per-label Gaussian naive Bayes probabilities from this leaf's split statistics."""
        out = np.empty(self.n_labels)
        _kernels.gaussian_nb_proba(xv, self.count, self.mean, self.m2, self.positives, self.n,
                                   NB_VAR_FLOOR, out)
        return out

    def hamming_weight(self):
        """1 / HammingLoss^2 of this leaf's recent predictions (0 for leaves still too young)."""
        if self.n < 30:
            return 0.0
        return 1.0 / (self.adwin.estimation + 0.01) ** 2

    def branch_weights(self, feature, threshold):
        """Weights of the two branches of ``x[feature] <= threshold`` (Gaussian estimate),
        which seed the routing of missing values."""
        count, mean, m2 = self.count[0, feature], self.mean[0, feature], self.m2[0, feature]
        sd = np.sqrt(m2 / max(count - 1.0, 1.0))
        frac = float(ndtr((threshold - mean) / sd)) if sd > 0 else 0.5
        return [frac * count, (1.0 - frac) * count]

    def best_splits(self, n_split_points):
        """Best (gain, feature, threshold) per feature, from the Gaussian estimators.

        Multi-label information gain with H = sum_l binary entropy of label l.
        """
        count, mean, m2 = self.count, self.mean, self.m2
        n_all = count[0]
        valid = (n_all > 1) & (self.fmax > self.fmin) & np.isfinite(self.fmax)
        if not valid.any():
            return np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0)
        feats = np.flatnonzero(valid)
        cnt = count[:, feats]
        mu = mean[:, feats]
        sd = np.sqrt(m2[:, feats] / np.maximum(cnt - 1.0, 1.0))
        lo, hi = self.fmin[feats], self.fmax[feats]
        frac = np.arange(1, n_split_points + 1) / (n_split_points + 1)
        thresholds = lo[:, None] + (hi - lo)[:, None] * frac[None, :]  # (F, K)

        def cdf(m, s, t):
            with np.errstate(divide="ignore", invalid="ignore"):
                z = (t - m) / np.where(s > 0, s, 1.0)
            return np.where(s > 0, ndtr(z), (t >= m).astype(float))

        total = cnt[0]  # (F,)
        left = total[:, None] * cdf(mu[0][:, None], sd[0][:, None], thresholds)  # (F, K)
        right = total[:, None] - left
        pos = cnt[1:]  # (L, F)
        pos_left = pos[:, :, None] * cdf(mu[1:, :, None], sd[1:, :, None], thresholds[None])
        pos_left = np.minimum(pos_left, left[None])
        pos_right = np.clip(pos[:, :, None] - pos_left, 0.0, right[None])
        h_parent = _entropy(pos / total[None]).sum(axis=0)  # (F,)
        with np.errstate(divide="ignore", invalid="ignore"):
            h_left = _entropy(np.where(left[None] > 0, pos_left / left[None], 0.0)).sum(axis=0)
            h_right = _entropy(np.where(right[None] > 0, pos_right / right[None], 0.0)).sum(axis=0)
        gain = h_parent[:, None] - (left / total[:, None]) * h_left - (right / total[:, None]) * h_right
        best_k = gain.argmax(axis=1)
        rows = np.arange(len(feats))
        return gain[rows, best_k], feats, thresholds[rows, best_k]


def _entropy(p):
    """Binary entropy in bits, elementwise (0 at p in {0, 1})."""
    p = np.clip(p, 0.0, 1.0)
    q = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(p > 0, p * np.log2(p), 0.0) + np.where(q > 0, q * np.log2(q), 0.0))
    return h


class Split(Node):
    """Binary split ``x[feature] <= threshold`` (missing values follow the heavier branch)."""

    is_leaf = False

    def __init__(self, depth, feature, threshold, children, child_weights, drift_delta):
        super().__init__(depth, drift_delta)
        self.feature = feature
        self.threshold = threshold
        self.children = children
        self.child_weights = child_weights

    def branch(self, xv):
        if not isinstance(xv, np.ndarray):  # a SparseVector: absent features are 0
            return 0 if xv.get(self.feature) <= self.threshold else 1
        v = xv[self.feature] if self.feature < len(xv) else math.nan
        if v != v:
            return 0 if self.child_weights[0] >= self.child_weights[1] else 1
        return 0 if v <= self.threshold else 1


def hoeffding_bound(value_range, delta, n):
    """eps = sqrt(R^2 ln(1/delta) / (2 n))."""
    return math.sqrt(value_range * value_range * math.log(1.0 / delta) / (2.0 * n))


def labelset_range(n_labelsets):
    """Range of the multi-label entropy used in the Hoeffding bound: log2(#label sets), >= 1."""
    return math.log2(n_labelsets) if n_labelsets > 2 else 1.0


def iter_nodes(node):
    """Every node of the subtree, alternates included."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if n.alt is not None:
            stack.append(n.alt)
        if not n.is_leaf:
            stack.extend(n.children)
