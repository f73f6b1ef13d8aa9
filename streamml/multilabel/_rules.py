"""Per-label decision rules that compete with the tree's leaf models (chosen by the data).

Beside the leaf models, MLHAT keeps two cheap predictors and picks, per label, the decision
rule with the best prequential F1:

- naive Bayes from the statistics the leaves keep anyway for their splits (Gaussian per label
  on dense leaves, multinomial over the present words on sparse ones), see
  :meth:`~._tree.Leaf.nb_proba`;
- :class:`NeighbourWindow`: the ``k`` nearest of the last ``size`` instances (a label powerset
  of the neighbours' label sets, read per label), which suits streams of near-duplicate
  instances whose label sets repeat (genbase's protein motifs, foodtruck);
- :class:`YoungLabelGate`: on sparse input, the similarity above which the most similar
  stored instance's labels are added to the tree's decisions on young labels (too few
  positives for a threshold of their own), learned from all young labels together;
- :class:`RuleSelector`: per label, decayed counts of the true positives, false positives,
  false negatives and exact label-set matches of every rule's decisions, made before each
  instance was learnt (prequential), and the choice: the rule of best F1 among those that
  made no more errors on the label (or, on a label the tree's rule mostly misses, found more
  of its positives at no loss of micro-F1) and lost no exact matches against the tree's rule
  (whose joint decoding is what wins subset accuracy), else "never predict" where the
  Hamming budget requires it (see ``_kernels.rule_choose``).
"""

import math

import numpy as np

from . import _kernels

NEVER = -1
# The chosen rules together may make at most this fraction of the errors of never predicting
# any label (prequential, decayed counts): the Hamming loss stays below the empty prediction's.
# MLHAT's default ``hamming_budget``.
HAMMING_BUDGET = 0.95
# The answers actually given may err on at most this fraction of the positives (decayed
# counts) at the default budget, in proportion to ``hamming_budget`` otherwise; while they err
# more, the budget shrinks in proportion. The choices' counts are
# hindsight: the rules chosen because they erred little err more afterwards (bibtex's first
# 2,000 instances: the choices' counts at 0.95 of never's errors, the answers at 1.00-1.05).
# Tried 0.97 / 0.98 / 0.99 on bibtex-2000, birds and cal500 (docs/multilabel.md).
ANSWER_BUDGET = 0.98
# Decayed positives before the answers' errors bound the budget.
ANSWER_MIN_POSITIVES = 20.0

# Sparse rows added between two rebuilds of the window's index by feature (a rebuild reads
# every entry of the window; a query reads the rows added since whole).
INDEX_EVERY = 64


class NeighbourWindow:
    """The last ``size`` instances (features, labels) and their ``k`` nearest.

    Dense rows are float32 vectors of the raw features (NaN = missing), stored by feature
    (``columns[f, r]``, see ``_kernels.dense_sq_distances``); distances divide each feature by
    its running range over every instance added and read a missing value as the feature's
    running mean over every instance added, whichever way it is missing: absent from the
    instance, ``None`` / NaN, or new since the row was stored. (MLHAT adds every instance it
    learns, so these means are its feature space's, the ones standardization imputes; an
    IHOMER cluster's window counts the instances routed to it.) Sparse rows keep the non-zero
    entries of the scaled features only and their squared norms; the rows are also indexed by
    feature every ``INDEX_EVERY`` rows, so a query costs its non-zeros times their frequency
    in the window, plus the rows added since (``_kernels.sparse_sq_distances``).
    """

    def __init__(self, size, k, sparse, n_labels):
        self.size = size
        self.k = k
        self.sparse = sparse
        self.labels = np.zeros((size, n_labels), dtype=np.float32)
        self.n = 0
        self.next = 0
        if sparse:
            # The rows' entries one after the other, oldest row first, in entries lo:hi
            # (rows leave in the order they came).
            self.entry_cols = np.zeros(0, dtype=np.int64)
            self.entry_values = np.zeros(0, dtype=np.float32)
            self.lo = 0
            self.hi = 0
            self.row_start = np.zeros(size, dtype=np.int64)
            self.row_nnz = np.zeros(size, dtype=np.int64)
            self.row_norms = np.zeros(size)
            self.row_serial = np.zeros(size, dtype=np.int64)
            self.n_added = 0
            # The rows by column (_kernels.sparse_column_index), rebuilt every
            # ``index_every`` rows: the rows added before ``indexed`` are read through it.
            self.index_every = min(size, INDEX_EVERY)
            self.indexed = 0
            self.index_start = np.zeros(1, dtype=np.int64)
            self.index_rows = np.zeros(0, dtype=np.int64)
            self.index_values = np.zeros(0, dtype=np.float32)
            self.scratch = np.zeros(0)
        else:
            self.columns = np.zeros((0, size), dtype=np.float32)
            # Running count, mean and extremes of each feature over every instance added.
            self.count = np.zeros(0)
            self.mean = np.zeros(0)
            self.fmin = np.zeros(0)
            self.fmax = np.zeros(0)
        self._dist = np.zeros(size)

    def _fit_features(self, n_features):
        if n_features > len(self.fmin):
            extra = n_features - len(self.fmin)
            self.count = np.concatenate([self.count, np.zeros(extra)])
            self.mean = np.concatenate([self.mean, np.zeros(extra)])
            self.fmin = np.concatenate([self.fmin, np.full(extra, np.inf)])
            self.fmax = np.concatenate([self.fmax, np.full(extra, -np.inf)])

    def add(self, xv, xs, y):
        """Add an instance: its raw vector ``xv`` (dense: NaN = missing), its scaled vector
        ``xs`` (the sparse rows keep this one) and its 0/1 labels ``y``."""
        r = self.next
        if self.sparse:
            self._append_entries(r, xs.cols, xs.values)
            self.row_norms[r] = _kernels.sparse_sq_norm(self.entry_values[self.row_start[r]:],
                                                        len(xs.cols))
            self.row_serial[r] = self.n_added
            self.n_added += 1
            if len(xs.cols) and xs.cols[-1] >= len(self.scratch):
                self.scratch = np.zeros(max(int(xs.cols[-1]) + 1, 2 * len(self.scratch)))
        else:
            n_features = len(xv)
            if n_features > self.columns.shape[0]:
                # Features new to the window are missing (NaN) in the rows already stored,
                # as a feature absent from an instance is: both read as the running mean.
                extra = n_features - self.columns.shape[0]
                self.columns = np.concatenate(
                    [self.columns, np.full((extra, self.size), np.nan, dtype=np.float32)]
                )
            if n_features > len(self.fmin):
                self._fit_features(n_features)
            _kernels.dense_window_store(self.columns, r, xv, self.count, self.mean, self.fmin,
                                        self.fmax)
        self.labels[r] = y
        self.next = (r + 1) % self.size
        self.n = min(self.n + 1, self.size)
        if self.sparse and self.n_added - self.indexed >= self.index_every:
            self._index_columns()

    def _index_columns(self):
        n_entries = int(self.row_nnz[: self.n].sum())
        if len(self.index_rows) < n_entries:
            self.index_rows = np.zeros(2 * n_entries, dtype=np.int64)
            self.index_values = np.zeros(2 * n_entries, dtype=np.float32)
        if len(self.index_start) != len(self.scratch) + 1:
            self.index_start = np.zeros(len(self.scratch) + 1, dtype=np.int64)
        _kernels.sparse_column_index(self.entry_cols, self.entry_values, self.row_start,
                                     self.row_nnz, self.n, self.index_start, self.index_rows,
                                     self.index_values)
        self.indexed = self.n_added

    def _append_entries(self, r, cols, values):
        """Store the entries of row ``r`` after the others, the row it replaces (the oldest)
        dropped first; the live entries move to the front, and the storage doubles, only when
        its end is reached."""
        nnz = len(cols)
        if self.n == self.size:
            self.lo = self.row_start[(r + 1) % self.size] if self.size > 1 else self.hi
        if self.hi + nnz > len(self.entry_cols):
            lo, live = self.lo, self.hi - self.lo
            capacity = max(len(self.entry_cols), 2 * (live + nnz), 64)
            entry_cols = np.zeros(capacity, dtype=np.int64)
            entry_values = np.zeros(capacity, dtype=np.float32)
            entry_cols[:live] = self.entry_cols[lo:self.hi]
            entry_values[:live] = self.entry_values[lo:self.hi]
            self.entry_cols, self.entry_values = entry_cols, entry_values
            self.row_start -= lo
            self.lo, self.hi = 0, live
        start = self.hi
        self.row_start[r] = start
        self.row_nnz[r] = nnz
        self.entry_cols[start:start + nnz] = cols
        self.entry_values[start:start + nnz] = values
        self.hi += nnz

    def proba(self, xv, xs):
        """Per label, the fraction of the ``k`` nearest instances carrying it (the nearest
        one's label set is left in ``nearest_labels``); ``xv``, ``xs`` as in :meth:`add`."""
        n_labels = self.labels.shape[1]
        if self.n == 0:
            self.nearest_labels = np.zeros(n_labels)
            self.cosine_labels = np.zeros(n_labels)
            self.cosine = 0.0
            return np.zeros(n_labels)
        dist = self._dist
        k = min(self.k, self.n)
        proba = np.empty(n_labels)
        nearest_labels = np.empty(n_labels)
        if self.sparse:
            if len(xs.cols) and xs.cols[-1] >= len(self.scratch):
                self.scratch = np.zeros(int(xs.cols[-1]) + 1)
            unique = _kernels.sparse_neighbours(
                xs.cols, xs.values, self.index_start, self.index_rows, self.index_values,
                self.row_serial, self.indexed, self.entry_cols, self.entry_values,
                self.row_start, self.row_nnz, self.row_norms, self.n, self.scratch, k,
                self.labels, dist, proba, nearest_labels,
            )
        else:
            if len(xv) > len(self.fmin):
                self._fit_features(len(xv))
            unique = _kernels.dense_neighbours(
                xv, self.columns, self.n, self.mean, self.fmin, self.fmax, k, self.labels,
                dist, proba, nearest_labels,
            )
        if self.sparse:
            self._cosine_nearest(xs)
        if unique:
            self.nearest_labels = nearest_labels
            return proba
        # The k nearest are not unique (equal distances): numpy's selection decides.
        nearest = np.argpartition(dist[: self.n], k - 1)[:k] if k < self.n else np.arange(self.n)
        self.nearest_labels = self.labels[int(np.argmin(dist[: self.n]))].astype(np.float64)
        return self.labels[nearest].mean(axis=0, dtype=np.float64)

    def _cosine_nearest(self, xs):
        """Sparse rows: the label set of the row of highest cosine similarity to the query
        (read from the squared distances just computed) into ``cosine_labels``, that
        similarity into ``cosine`` (``_kernels.most_similar_row``)."""
        values = xs.values
        r, self.cosine = _kernels.most_similar_row(self._dist, self.row_norms, self.n,
                                                   float(np.dot(values, values)))
        if r >= 0:
            self.cosine_labels = self.labels[r].astype(np.float64)
        else:
            self.cosine_labels = np.zeros(self.labels.shape[1])

    def add_labels(self, n_new):
        self.labels = np.pad(self.labels, ((0, 0), (0, n_new)))

    def select_labels(self, idx):
        self.labels = np.ascontiguousarray(self.labels[:, np.asarray(idx, dtype=np.int64)])


class YoungLabelGate:
    """Whether the most similar past instance's labels may be added, on young labels, to the
    tree's decisions: above a cosine similarity learned online from all young labels together.

    A label with a few positives has no usable threshold of its own (its leaf probabilities
    are far below any learned one), but labels of similar youth behave alike: every time the
    most similar stored instance (cosine over the scaled words) carries a young label the tree
    did not predict, the outcome (right or wrong) is counted in the bin of that similarity,
    whatever was predicted (decayed counts, half-life ``half_life``). The gate is the lowest
    similarity above which these additions gained the most ``tp - micro_weight * kappa *
    fp``, ``kappa = F / (2 - F)`` (``F`` the micro-F1 of the current choices: with
    ``micro_weight`` 1 an addition is worth making where it does not lower micro-F1, the rule
    "predict above F / 2"; 0.35 trades some micro-F1 for the F1 of labels that had none);
    closed (``inf``) while that sum is not positive, and while the current choices make more
    errors than ``HAMMING_BUDGET`` times the positives (each addition is more often wrong
    than right, so it would raise the Hamming loss where it has no room left): ``HAMMING_BUDGET``
    here is the selector's ``hamming_budget``.
    """

    def __init__(self, n_bins=20, half_life=1000, every=10, micro_weight=0.35):
        self.n_bins = n_bins
        self.micro_weight = micro_weight
        self.hits = np.zeros(n_bins)
        self.misses = np.zeros(n_bins)
        self.decay = 0.5 ** (every / half_life)
        self.every = every
        self.threshold = np.inf
        self.n = 0

    def add(self, added, y, cosine, selector):
        """Count one instance's candidate additions (0/1 per label, before learning), its
        labels ``y`` and the similarity ``cosine``; ``selector`` gives the current choices'
        true positives, errors and positives (:meth:`RuleSelector.current_counts`)."""
        # Words with negative values can give a negative cosine: counted with the lowest bin.
        b = min(max(int(cosine * self.n_bins), 0), self.n_bins - 1)
        n_added = float(added.sum())
        if n_added:
            hit = float(np.dot(added, y))
            self.hits[b] += hit
            self.misses[b] += n_added - hit
        self.n += 1
        if self.n % self.every == 0:
            self.hits *= self.decay
            self.misses *= self.decay
            tp, errors, positives = selector.current_counts()
            micro_f1 = 2.0 * tp / max(2.0 * tp + errors, 1e-12)
            kappa = self.micro_weight * micro_f1 / (2.0 - micro_f1)
            gain = np.cumsum((self.hits - kappa * self.misses)[::-1])[::-1]
            best = int(np.argmax(gain))
            self.threshold = best / self.n_bins if gain[best] > 0.0 else np.inf
            if errors > selector.hamming_budget * positives:
                self.threshold = np.inf

    def open(self, cosine):
        return cosine >= self.threshold


class RuleSelector:
    """Per label, the decision rule with the best prequential F1 (see the module docstring).

    Parameters
    ----------
    n_rules, n_labels
        Rule 0 is the default, used while a label has fewer than ``min_positives`` positives.
    half_life
        Instances after which old counts weigh half (tracks drift).
    min_positives
        Positive weight a label needs before its rule is chosen by the counts.
    margin
        F1 a rule must gain over the current choice to replace it (hysteresis).
    every
        Instances between two choices.
    micro_trade
        Whether a rule may make more errors on a label than rule 0 where rule 0 finds fewer
        than half of its positives and the rule gains true positives at no loss of micro-F1
        (see ``_kernels.rule_choose``).
    young_rule
        The rule labels follow while they have fewer than ``min_positives`` positives.
    fallback_only_from
        The rules from this one on are taken only when the Hamming budget makes labels fall
        back (-1: none).
    hamming_budget
        The chosen rules together may make at most this fraction of the errors of never
        predicting any label (``inf``: no budget).
    scored_never
        Whether the Hamming budget may leave out ("never") a label with ``min_positives``
        positives; if not, its cheapest option is a rule (MLHAT: its budget-threshold rule),
        so the budget counts the errors of what is predicted.

    The budget (``budget_fraction``) holds on the choices' counts; the answers actually given
    (``answer_errors``: the labels the chosen rules got wrong, decayed like the counts) bound
    it through ``ANSWER_BUDGET`` (see ``budget_fraction``).
    """

    def __init__(self, n_rules, n_labels, half_life=1000, min_positives=5.0, margin=0.01,
                 every=10, micro_trade=True, young_rule=0, fallback_only_from=-1,
                 hamming_budget=HAMMING_BUDGET, scored_never=True):
        self.tp = np.zeros((n_rules, n_labels))
        self.fp = np.zeros((n_rules, n_labels))
        self.fn = np.zeros((n_rules, n_labels))
        self.exact = np.zeros((n_rules, n_labels))
        self.positives = np.zeros(n_labels)
        self.choice = np.full(n_labels, young_rule, dtype=np.int64)
        self.decay = 0.5 ** (every / half_life)
        self.min_positives = min_positives
        self.margin = margin
        self.every = every
        self.micro_trade = micro_trade
        self.young_rule = young_rule
        self.fallback_only_from = fallback_only_from
        self.hamming_budget = hamming_budget
        self.scored_never = scored_never
        self.answer_errors = 0.0
        self.n = 0

    def record(self, decisions, y):
        """Count the rules' decisions (``(n_rules, n_labels)`` 0/1, made before learning)."""
        self.answer_errors += _kernels.rule_record(decisions, y, self.choice, self.tp, self.fp,
                                                   self.fn, self.positives, self.exact)
        self.n += 1
        if self.n % self.every == 0:
            for a in (self.tp, self.fp, self.fn, self.exact, self.positives):
                a *= self.decay
            self.answer_errors *= self.decay
            self._choose()
        elif self.n < 10 * self.every:  # early on, choose after every instance
            self._choose()

    def budget_fraction(self):
        """``hamming_budget``, shrunk in proportion while the answers given (decayed) erred on
        more than their bound, ``ANSWER_BUDGET / HAMMING_BUDGET`` times ``hamming_budget``, of
        the positives."""
        positives = self.positives.sum()
        if positives < ANSWER_MIN_POSITIVES:
            return self.hamming_budget
        bound = self.hamming_budget * ANSWER_BUDGET / HAMMING_BUDGET * positives
        if self.answer_errors <= bound:
            return self.hamming_budget
        return self.hamming_budget * bound / self.answer_errors

    def _choose(self):
        _kernels.rule_choose(self.tp, self.fp, self.fn, self.exact, self.positives, self.margin,
                             self.min_positives, self.budget_fraction(), self.micro_trade,
                             self.young_rule, self.choice, self.fallback_only_from,
                             self.scored_never)

    def current_counts(self):
        """True positives, errors and positives of the current choices, over all labels
        (decayed counts; "never" misses every positive)."""
        cols = np.arange(len(self.choice))
        rule = np.maximum(self.choice, 0)
        never = self.choice < 0
        tp = np.where(never, 0.0, self.tp[rule, cols]).sum()
        errors = np.where(never, self.positives,
                          self.fp[rule, cols] + self.fn[rule, cols]).sum()
        return float(tp), float(errors), float(self.positives.sum())

    def decide(self, decisions):
        """Per label, the decision of its chosen rule (0 where it is "never")."""
        out = np.empty(decisions.shape[1])
        _kernels.rule_decide(decisions, self.choice, out)
        return out

    def add_labels(self, n_new):
        pad = np.zeros((self.tp.shape[0], n_new))
        self.tp = np.concatenate([self.tp, pad], axis=1)
        self.fp = np.concatenate([self.fp, pad], axis=1)
        self.fn = np.concatenate([self.fn, pad], axis=1)
        self.exact = np.concatenate([self.exact, pad], axis=1)
        self.positives = np.concatenate([self.positives, np.zeros(n_new)])
        self.choice = np.concatenate([self.choice,
                                      np.full(n_new, self.young_rule, dtype=np.int64)])

    def select_labels(self, idx):
        idx = np.asarray(idx, dtype=np.int64)
        # The answers' errors are of every label: kept in proportion to the positives kept.
        total = self.positives.sum()
        if total > 0.0:
            self.answer_errors *= self.positives[idx].sum() / total
        self.tp = self.tp[:, idx].copy()
        self.fp = self.fp[:, idx].copy()
        self.fn = self.fn[:, idx].copy()
        self.exact = self.exact[:, idx].copy()
        self.positives = self.positives[idx].copy()
        self.choice = self.choice[idx].copy()


class JointChoice:
    """Whether to answer with the nearest neighbour's whole label set (a label powerset read
    jointly) rather than the per-label rules' vector.

    Both answers are scored before each instance is learnt (prequential, decayed counts). The
    neighbour's label set is used while it has matched the true label set significantly more
    often: on the instances where exactly one of the two answers matched (a sign test), the
    neighbour's wins minus its losses exceed ``z`` times the root of their number; and while
    it makes no more label errors and has no lower micro-F1. The sign test switches as soon as
    the evidence is there (genbase: after about 20 instances instead of 60 with a fixed
    minimum of 50 instances and a 2% margin), and not on noise.
    """

    def __init__(self, half_life=1000, z=2.0, min_weight=10.0, every=10):
        self.exact = np.zeros(2)
        self.errors = np.zeros(2)
        self.tp = np.zeros(2)
        self.fp = np.zeros(2)
        self.fn = np.zeros(2)
        self.disagreements = 0.0
        self.weight = 0.0
        self.decay = 0.5 ** (every / half_life)
        self.z = z
        self.min_weight = min_weight
        self.every = every
        self.n = 0
        self.use_neighbour = False

    def record(self, per_label, neighbour, y):
        exact = self.exact
        before_rules, before_neighbour = exact[0], exact[1]
        _kernels.joint_record(per_label, neighbour, y, self.tp, self.fp, self.fn, self.errors,
                              exact)
        self.disagreements += abs((exact[1] - before_neighbour) - (exact[0] - before_rules))
        self.weight += 1.0
        self.n += 1
        if self.n % self.every == 0:
            for a in (self.exact, self.errors, self.tp, self.fp, self.fn):
                a *= self.decay
            self.weight *= self.decay
            self.disagreements *= self.decay
        elif self.n >= 10 * self.every:  # early on, choose after every instance
            return
        self.use_neighbour = False
        exact_rules, exact_neighbour = exact.tolist()
        if (self.weight < self.min_weight
                or exact_neighbour - exact_rules <= self.z * math.sqrt(self.disagreements)):
            return
        # Scalar arithmetic (two answers): the values of the array forms, without their cost.
        tp, fp, fn = self.tp.tolist(), self.fp.tolist(), self.fn.tolist()
        f1 = [2.0 * tp[a] / max(2.0 * tp[a] + fp[a] + fn[a], 1e-12) for a in (0, 1)]
        errors_rules, errors_neighbour = self.errors.tolist()
        self.use_neighbour = errors_neighbour <= errors_rules and f1[1] >= f1[0]


class DecodingChoice:
    """Whether the tree's label set is decoded with the naive-Bayes evidence added (see
    ``MLHAT._tree_decide``) or without it.

    Both decodings are scored before each instance is learnt (prequential, decayed counts):
    their label errors and, on the instances where exactly one of the two matched the true
    label set, the wins of each. The evidence is used while it has made fewer label errors
    than the plain decoding and the plain decoding's wins minus its losses do not exceed ``z``
    times the root of their number (a sign test, strict at ``z = 0.5``: the evidence is
    dropped as soon as it loses whole label sets). It starts unused: where both answer alike (young
    leaves, sparse input) nothing changes.
    """

    def __init__(self, half_life=1000, z=0.5, every=10):
        self.errors = np.zeros(2)  # slot 0: the plain decoding, slot 1: with the evidence
        self.plain_wins = np.zeros(2)  # the plain decoding's wins (slot 0) and losses (slot 1)
        self.decay = 0.5 ** (every / half_life)
        self.z = z
        self.every = every
        self.n = 0
        self.use_evidence = False

    def record(self, plain, with_evidence, y):
        """Count one instance's answers (0/1 vectors, given before learning) against ``y``."""
        _kernels.decoding_record(plain, with_evidence, y, self.errors, self.plain_wins)
        self.n += 1
        if self.n % self.every == 0:
            self.errors *= self.decay
            self.plain_wins *= self.decay
        elif self.n >= 10 * self.every:  # early on, choose after every instance
            return
        wins, losses = self.plain_wins.tolist()
        errors_plain, errors_evidence = self.errors.tolist()
        self.use_evidence = (errors_evidence < errors_plain
                             and wins - losses <= self.z * math.sqrt(wins + losses))


class LabelSetBayes:
    """Gaussian naive Bayes over whole label sets (a label powerset) on dense input.

    Per stored label set: the number of instances that carried exactly it and, per feature,
    the running mean and sum of squared deviations of their raw values (a missing value reads
    as the feature's running mean over all instances). A set's log posterior given the
    features is its frequency's logarithm plus, per feature, a Gaussian log-density whose
    variance is the set's own shrunk toward the feature's variance over all instances by one
    instance's weight (``(m2_s + var) / n_s``: a set seen once reads the overall variance).
    :meth:`decode` rescores a label set with it (``_kernels.label_set_decode``). The variances
    of a set are refreshed when it learns, those of every set every ``refresh_every``
    instances (the overall variances move slowly; the logarithms are the cost). At most
    ``max_sets`` sets are kept: a new set, once full, replaces the first stored set seen only
    once, if any (else only the overall statistics learn it).
    """

    def __init__(self, n_labels, max_sets=128, candidates=8, refresh_every=50):
        self.max_sets = max_sets
        self.candidates = candidates
        self.refresh_every = refresh_every
        self.sets = np.zeros((max_sets, n_labels))
        self.count = np.zeros(max_sets)
        self.log_count = np.zeros(max_sets)
        self.mean = np.zeros((max_sets, 0))
        self.m2 = np.zeros((max_sets, 0))
        self.inv_var = np.zeros((max_sets, 0))
        self.log_var_sum = np.zeros(max_sets)
        self.all_mean = np.zeros(0)
        self.all_m2 = np.zeros(0)
        self.n = 0  # instances learnt
        self.k = 0  # label sets stored
        self.log_post = np.zeros(max_sets)
        self._rows = np.zeros((candidates + 1, n_labels))
        self._prior = np.zeros(candidates + 1)
        self._score = np.zeros(candidates + 1)

    def _fit_features(self, n_features):
        grow = n_features - len(self.all_mean)
        if grow > 0:
            self.all_mean = np.concatenate([self.all_mean, np.zeros(grow)])
            self.all_m2 = np.concatenate([self.all_m2, np.zeros(grow)])
            for name in ("mean", "m2", "inv_var"):
                setattr(self, name, np.pad(getattr(self, name), ((0, 0), (0, grow))))
            if self.n >= 2:
                _kernels.label_set_variances(self.count, self.m2, self.all_m2, float(self.n), 0,
                                             self.k, self.inv_var, self.log_var_sum)

    def add(self, xv, y):
        """Learn one instance: raw features ``xv`` (NaN = missing), 0/1 labels ``y``
        (``_kernels.label_set_add``)."""
        self._fit_features(len(xv))
        refresh_all = (self.n + 1) % self.refresh_every == 0 or self.n < self.refresh_every
        self.k = _kernels.label_set_add(
            xv, y, self.sets, self.k, self.count, self.log_count, self.mean, self.m2,
            self.all_mean, self.all_m2, float(self.n), refresh_all, self.inv_var,
            self.log_var_sum,
        )
        self.n += 1

    def decode(self, xv, xs, row, weight, model, ctx=None):
        """Rescore the label set ``row`` (0/1, updated in place) against the ``candidates``
        stored sets of highest posterior given ``xv``: the best of them and ``row`` under
        ``model``'s (a leaf's ``ChainModel``) joint log-probability of the standardized ``xs``
        plus ``weight`` times the log posterior. Nothing while fewer than 2 instances were
        learnt."""
        if self.n < 2:
            return
        if len(xv) > len(self.all_mean):
            self._fit_features(len(xv))
        _kernels.label_set_decode(
            xv, xs, self.log_count, self.mean, self.all_mean, self.inv_var, self.log_var_sum,
            self.k, self.sets, self.candidates, weight, model.coef,
            model._intercept(ctx), model.chain,
            model.use_chain, self.log_post, self._rows, self._prior, self._score, row,
        )

    def add_labels(self, n_new):
        """New labels: absent from every stored set."""
        self.sets = np.pad(self.sets, ((0, 0), (0, n_new)))
        self._rows = np.zeros((self.candidates + 1, self.sets.shape[1]))


class SetDecodingChoice:
    """Whether the tree's label set is the one rescored with whole-label-set evidence
    (:class:`LabelSetBayes`, see ``MLHAT._set_decode``) or the tree's own.

    Both answers are scored before each instance is learnt (decayed counts): per label their
    true positives, false positives and false negatives, and, on the instances where exactly
    one of the two matched the true label set, the wins of each. The rescored set is used
    while its summed per-label F1 (macro-F1 times the labels) is higher and the tree's own
    wins minus its losses do not exceed ``z`` times the root of their number (a sign test:
    no whole label sets lost beyond chance), over at least ``min_weight`` instances where
    exactly one matched; switching to it takes ``margin`` F1 per label more. Starts unused.
    """

    def __init__(self, n_labels, half_life=1000, z=0.0, every=10, min_weight=10.0, margin=0.01):
        self.min_weight = min_weight
        self.margin = margin
        self.counts = np.zeros((2, 3, n_labels))  # answer (own, rescored) x (tp, fp, fn)
        self.own_wins = np.zeros(2)  # the tree's own answer's wins (slot 0) and losses (slot 1)
        self.decay = 0.5 ** (every / half_life)
        self.z = z
        self.every = every
        self.n = 0
        self.use_sets = False

    def record(self, own, rescored, y):
        """Count one instance's answers (0/1 vectors, given before learning) against ``y``."""
        # F1 is unchanged by the decay (it scales every count alike).
        gain = _kernels.set_choice_record(own, rescored, y, self.counts, self.own_wins)
        self.n += 1
        if self.n % self.every == 0:
            self.counts *= self.decay
            self.own_wins *= self.decay
        elif self.n >= 10 * self.every:  # early on, choose after every instance
            return
        wins, losses = self.own_wins.tolist()
        if wins + losses < self.min_weight or wins - losses > self.z * math.sqrt(wins + losses):
            self.use_sets = False
            return
        margin = 0.0 if self.use_sets else self.margin * self.counts.shape[2]
        self.use_sets = gain > margin

    def add_labels(self, n_new):
        self.counts = np.pad(self.counts, ((0, 0), (0, 0), (0, n_new)))
