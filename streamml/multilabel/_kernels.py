"""numba kernels of the multi-label Hoeffding tree (per-instance hot loops).

Plain arrays and scalars in; outputs are written into the arrays given. The kernels never raise
for user errors (the estimators validate first) and never write into arrays documented as inputs.
Each kernel has a naive NumPy twin in ``tests/streamml/multilabel/test_kernels.py``.

The per-instance kernels whose denominators are positive by construction (counts plus a
positive weight, ``1 + exp``, square roots plus a positive constant, guarded variances) are
compiled with ``error_model="numpy"``: without numba's zero-division check on every division,
which keeps their loops tight (gaussian_nb_proba: a third faster); the results are the same.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def gaussian_update(count, mean, m2, rows, x, weight):
    """Weighted Welford update of per-row, per-feature Gaussian statistics.

    Parameters
    ----------
    count, mean, m2 : float64 arrays (n_rows, n_features), updated in place
        Weight seen, running mean and sum of squared deviations of each feature, per row.
    rows : int64 array
        The rows that receive this instance (e.g. the labels present, or the row of all instances).
    x : float64 array (n_features,), input
        Raw feature values; NaN marks a missing value, which leaves its column untouched.
    weight : float
        Instance weight (> 0).
    """
    for k in range(rows.shape[0]):
        _gaussian_row(count, mean, m2, rows[k], x, weight)


@njit(cache=True, inline="always")
def _gaussian_row(count, mean, m2, r, x, weight):
    """Weighted Welford update of row ``r`` with ``x`` (NaN: missing, left untouched)."""
    for f in range(x.shape[0]):
        v = x[f]
        if v != v:  # NaN: missing
            continue
        c = count[r, f] + weight
        delta = v - mean[r, f]
        mean[r, f] += weight * delta / c
        m2[r, f] += weight * delta * (v - mean[r, f])
        count[r, f] = c


@njit(cache=True, error_model="numpy")
def leaf_observe(count, mean, m2, fmin, fmax, positives, x, weight):
    """A dense leaf's statistics of one instance: the Welford update of row 0 (every
    instance) and of rows ``1 + positives`` (the labels present), in that order, and the
    per-feature extremes (NaN ignored).

    Parameters
    ----------
    count, mean, m2 : float64 (n_labels + 1, n_features), updated in place
    fmin, fmax : float64 (n_features,), updated in place
    positives : int64 (n_positive,), input
        Indices of the labels present.
    x : float64 (n_features,), input; NaN = missing
    weight : float
    """
    _gaussian_row(count, mean, m2, 0, x, weight)
    for k in range(positives.shape[0]):
        _gaussian_row(count, mean, m2, positives[k] + 1, x, weight)
    for f in range(x.shape[0]):
        v = x[f]
        if v < fmin[f]:  # False for NaN
            fmin[f] = v
        if v > fmax[f]:
            fmax[f] = v


@njit(cache=True, error_model="numpy")
def chain_logits(features, coef, intercept, chain, use_chain, proba, decisions):
    """Greedy classifier-chain inference of an ensemble of logistic chains.

    Parameters
    ----------
    features : float64 (n_features,), input
        Standardized features (missing already imputed with 0).
    coef : float64 (n_members, n_labels, n_features), input
    intercept : float64 (n_members, n_labels), input
    chain : float64 (n_members, n_labels, n_labels), input
        ``chain[e, j, i]`` (i < j) weighs label i's decision in label j's logit.
    use_chain : bool
        False gives binary relevance (``chain`` ignored).
    proba : float64 (n_labels,), output
        Mean over members of each label's probability (each member conditions on its own
        earlier decisions).
    decisions : float64 (n_members, n_labels), output (scratch)
    """
    n_members = coef.shape[0]
    n_labels = coef.shape[1]
    n_features = coef.shape[2]
    for j in range(n_labels):
        proba[j] = 0.0
    for e in range(n_members):
        for j in range(n_labels):
            z = intercept[e, j]
            for f in range(n_features):
                z += coef[e, j, f] * features[f]
            if use_chain:
                for i in range(j):
                    z += chain[e, j, i] * decisions[e, i]
            if z >= 0.0:
                p = 1.0 / (1.0 + math.exp(-z))
            else:
                ez = math.exp(z)
                p = ez / (1.0 + ez)
            decisions[e, j] = 1.0 if p > 0.5 else 0.0
            proba[j] += p
    for j in range(n_labels):
        proba[j] /= n_members


@njit(cache=True, error_model="numpy")
def chain_sgd(features, labels, member_weights, coef, intercept, chain, use_chain, lr, lr_coef,
              l2, acc_coef, acc_intercept, acc_chain, decay, errors):
    """One weighted adaptive-gradient step on the log-loss of every unit of an ensemble of chains.

    Per weight, ``acc = decay * acc + g**2`` and ``w -= lr * g / sqrt(acc)`` (decay = 1 is
    AdaGrad; below 1 the step size stays alive, which tracks drift). Training is
    teacher-forced: label j sees the TRUE labels i < j.

    Parameters
    ----------
    features : float64 (n_features,), input
    labels : float64 (n_labels,), input, values 0 / 1
    member_weights : float64 (n_members,), input
        Online-bagging weight of each member (Poisson(1) draws, or ones).
    coef, intercept, chain : float64 arrays, updated in place
    use_chain : bool
    lr, lr_coef, l2 : float
        Step size of the intercepts and chain weights, of the feature weights, and L2 penalty
        on the weights (not on the intercept).
    acc_coef, acc_intercept, acc_chain : float64 arrays shaped like the weights, updated in place
        Decayed sums of squared gradients.
    decay : float in (0, 1]
    errors : float64 (n_members, n_labels), output
        Weighted gradient of the log-loss w.r.t. each logit (``w * (p - y)``), for callers that
        train further weights on the same logits.
    """
    n_members = coef.shape[0]
    n_labels = coef.shape[1]
    n_features = coef.shape[2]
    for e in range(n_members):
        w = member_weights[e]
        for j in range(n_labels):
            errors[e, j] = 0.0
        if w <= 0.0:
            continue
        for j in range(n_labels):
            z = intercept[e, j]
            for f in range(n_features):
                z += coef[e, j, f] * features[f]
            if use_chain:
                for i in range(j):
                    z += chain[e, j, i] * labels[i]
            if z >= 0.0:
                p = 1.0 / (1.0 + math.exp(-z))
            else:
                ez = math.exp(z)
                p = ez / (1.0 + ez)
            err = w * (p - labels[j])
            errors[e, j] = err
            acc_intercept[e, j] = decay * acc_intercept[e, j] + err * err
            intercept[e, j] -= lr * err / (math.sqrt(acc_intercept[e, j]) + 1e-8)
            for f in range(n_features):
                g = err * features[f] + l2 * coef[e, j, f]
                if g != 0.0:
                    acc_coef[e, j, f] = decay * acc_coef[e, j, f] + g * g
                    coef[e, j, f] -= lr_coef * g / (math.sqrt(acc_coef[e, j, f]) + 1e-8)
            if use_chain:
                for i in range(j):
                    g = err * labels[i] + l2 * chain[e, j, i]
                    if g != 0.0:
                        acc_chain[e, j, i] = decay * acc_chain[e, j, i] + g * g
                        chain[e, j, i] -= lr * g / (math.sqrt(acc_chain[e, j, i]) + 1e-8)


@njit(cache=True, error_model="numpy")
def chain_joint_log_proba(features, coef, intercept, chain, use_chain, candidates, out):
    """Mean over members of log P(label set | x) of each candidate label set under the chain.

    Parameters
    ----------
    features : float64 (n_features,), input
    coef, intercept, chain : ensemble weights (see ``chain_logits``), input
    use_chain : bool
    candidates : float64 (n_candidates, n_labels), input, values 0 / 1
    out : float64 (n_candidates,), output
    """
    n_members = coef.shape[0]
    n_labels = coef.shape[1]
    n_features = coef.shape[2]
    n_cand = candidates.shape[0]
    for k in range(n_cand):
        out[k] = 0.0
    for e in range(n_members):
        for j in range(n_labels):
            base = intercept[e, j]
            for f in range(n_features):
                base += coef[e, j, f] * features[f]
            for k in range(n_cand):
                z = base
                if use_chain:
                    for i in range(j):
                        z += chain[e, j, i] * candidates[k, i]
                if candidates[k, j] < 0.5:
                    z = -z
                # log sigmoid(z), stable for both signs
                if z >= 0.0:
                    out[k] -= math.log1p(math.exp(-z))
                else:
                    out[k] += z - math.log1p(math.exp(z))
    for k in range(n_cand):
        out[k] /= n_members


@njit(cache=True)
def sparse_scale(cols, values, sumsq, n_rows, clip, out):
    """Non-zero values divided by their feature's root mean square ``sqrt(sumsq / n_rows)``
    (1 where that is 0; unchanged for features beyond ``sumsq`` or while ``n_rows`` is 0),
    clipped to ``[-clip, clip]``.

    Parameters
    ----------
    cols : int64 (nnz,), input
    values : float64 (nnz,), input
    sumsq : float64 (>= 0,), input
        Running sum of squares of each feature.
    n_rows : int
    clip : float
    out : float64 (nnz,), output
    """
    for k in range(cols.shape[0]):
        v = values[k]
        c = cols[k]
        if n_rows > 0 and c < sumsq.shape[0]:
            rms = math.sqrt(sumsq[c] / n_rows)
            v = v / rms if rms > 0.0 else 1.0
        out[k] = min(max(v, -clip), clip)


@njit(cache=True)
def sparse_sum_squares(cols, values, sumsq):
    """``sumsq[cols[k]] += values[k] ** 2`` (distinct ``cols``; ``sumsq`` updated in place)."""
    for k in range(cols.shape[0]):
        sumsq[cols[k]] += values[k] * values[k]


@njit(cache=True)
def scatter_values(values, cols, out):
    """``out`` set to NaN (missing) except ``out[cols[k]] = values[k]``; returns whether a
    value is infinite.

    Parameters
    ----------
    values : float64 (n_values,), input
    cols : int64 (n_values,), input, indices into ``out``
    out : float64 (n_features,), output
    """
    out[:] = np.nan
    infinite = False
    for k in range(values.shape[0]):
        v = values[k]
        if v == np.inf or v == -np.inf:
            infinite = True
        out[cols[k]] = v
    return infinite


@njit(cache=True)
def nonzero_entries(values, key_cols, cols, out):
    """The non-zero, non-NaN ``values`` whose key has a column (``key_cols`` >= 0) with their
    columns into ``cols`` / ``out``, sorted by column; returns (their number, the number of
    non-zero values whose key has no column), or (-1, 0) when a value is infinite.

    Parameters
    ----------
    values : float64 (n_keys,), input
    key_cols : int64 (n_keys,), input; distinct columns, -1 for a key without a column
    cols : int64 (>= n_keys,), output
    out : float64 (>= n_keys,), output
    """
    n = 0
    unknown = 0
    ascending = True
    for k in range(values.shape[0]):
        v = values[k]
        if v == np.inf or v == -np.inf:
            return -1, 0
        if v != 0.0 and v == v:
            c = key_cols[k]
            if c < 0:
                unknown += 1
                continue
            if n > 0 and c < cols[n - 1]:
                ascending = False
            cols[n] = c
            out[n] = v
            n += 1
    if not ascending:  # distinct columns: any sort gives the one order
        order = np.argsort(cols[:n])
        sorted_cols = cols[:n][order]
        sorted_values = out[:n][order]
        cols[:n] = sorted_cols
        out[:n] = sorted_values
    return n, unknown


@njit(cache=True, error_model="numpy")
def standardize(raw, count, mean, m2, clip, out):
    """(raw - mean) / sd clipped to [-clip, clip]; missing (NaN) and constant features give 0.

    Parameters
    ----------
    raw : float64 (n,), input
    count, mean, m2 : float64 (1, >= n), input (the running moments of ``gaussian_update``)
    clip : float
    out : float64 (n,), output
    """
    for f in range(raw.shape[0]):
        v = raw[f]
        c = count[0, f]
        var = m2[0, f] / (c - 1.0) if c > 1.0 else 0.0
        if v != v or var <= 0.0:
            out[f] = 0.0
            continue
        z = (v - mean[0, f]) / math.sqrt(var)
        if z > clip:
            z = clip
        elif z < -clip:
            z = -clip
        out[f] = z


@njit(cache=True, error_model="numpy")
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


@njit(cache=True, inline="always")
def _member_logits(cols, values, coef, intercept, e, z):
    """Member ``e``'s logit of every label (``z``, output) from the non-zero features; columns
    beyond ``coef.shape[1]`` are ignored."""
    n_features = coef.shape[1]
    for j in range(z.shape[0]):
        z[j] = intercept[e, j]
    for k in range(cols.shape[0]):
        f = cols[k]
        if f >= n_features:
            continue
        v = values[k]
        for j in range(z.shape[0]):
            z[j] += coef[e, f, j] * v


@njit(cache=True, error_model="numpy")
def sparse_logits(cols, values, coef, intercept, proba):
    """Mean over members of each label's logistic probability, from the non-zero features.

    Cost grows with ``len(cols) * n_labels``, not with the number of features.

    Parameters
    ----------
    cols : int64 (nnz,), input
        Columns of the non-zero features (columns beyond ``coef.shape[1]`` are ignored).
    values : float64 (nnz,), input
    coef : float (n_members, n_features, >= n_labels), input
        Feature-major so that one feature's weights for every label are contiguous; columns
        beyond ``n_labels`` are spare capacity (labels appearing mid-stream).
    intercept : float64 (n_members, n_labels), input
    proba : float64 (n_labels,), output
    """
    n_members = coef.shape[0]
    n_labels = intercept.shape[1]  # coef may hold spare label columns
    z = np.empty(n_labels)
    for j in range(n_labels):
        proba[j] = 0.0
    for e in range(n_members):
        _member_logits(cols, values, coef, intercept, e, z)
        for j in range(n_labels):
            proba[j] += _sigmoid(z[j])
    for j in range(n_labels):
        proba[j] /= n_members


@njit(cache=True, error_model="numpy")
def sparse_sgd(cols, values, labels, member_weights, coef, intercept, lr, lr_coef, l2,
               acc_coef, acc_intercept, decay, errors):
    """One adaptive-gradient step of per-label logistic regressions on the non-zero features.

    Like ``chain_sgd`` (``acc = decay * acc + g**2``) but the feature weights step
    ``w -= lr_coef * g / (1 + sqrt(acc))`` and only the weights of the features in ``cols``
    move (lazy L2: a weight is shrunk when its feature occurs). Cost grows with
    ``len(cols) * n_labels``.

    Parameters
    ----------
    cols, values : the non-zero features (see ``sparse_logits``), input
    labels : float64 (n_labels,), input, values 0 / 1
    member_weights : float64 (n_members,), input
    coef : float (n_members, n_features, >= n_labels), updated in place
    intercept : float64 (n_members, n_labels), updated in place
    lr, lr_coef, l2 : float
    acc_coef, acc_intercept : shaped like ``coef`` and ``intercept``, updated in place
    decay : float in (0, 1]
    errors : float64 (n_members, n_labels), output
        ``w * (p - y)`` per member and label (``p`` before the step).
    """
    n_members = coef.shape[0]
    n_features = coef.shape[1]
    n_labels = intercept.shape[1]  # coef may hold spare label columns
    z = np.empty(n_labels)
    for e in range(n_members):
        w = member_weights[e]
        for j in range(n_labels):
            errors[e, j] = 0.0
        if w <= 0.0:
            continue
        _member_logits(cols, values, coef, intercept, e, z)
        for j in range(n_labels):
            err = w * (_sigmoid(z[j]) - labels[j])
            errors[e, j] = err
            acc_intercept[e, j] = decay * acc_intercept[e, j] + err * err
            intercept[e, j] -= lr * err / (math.sqrt(acc_intercept[e, j]) + 1e-8)
        for k in range(cols.shape[0]):
            f = cols[k]
            if f >= n_features:
                continue
            v = values[k]
            for j in range(n_labels):
                g = errors[e, j] * v + l2 * coef[e, f, j]
                if g != 0.0:
                    acc_coef[e, f, j] = decay * acc_coef[e, f, j] + g * g
                    # +1 (FTRL-proximal's beta = 1, not AdaGrad's epsilon): a weight that
                    # only ever sees tiny gradients (a rare label's negatives) moves little,
                    # instead of lr * sqrt(steps) (medical micro-F1 0.66 -> 0.72).
                    coef[e, f, j] -= lr_coef * g / (math.sqrt(acc_coef[e, f, j]) + 1.0)


@njit(cache=True)
def presence_update(present, together, cols, positives, weight):
    """Count, per feature, the instances where it is non-zero, overall and with each label.

    Parameters
    ----------
    present : float64 (n_features,), updated in place
    together : float (n_features, >= n_labels), updated in place
    cols : int64 (nnz,), input
        Columns of the non-zero features of the instance (all < ``n_features``).
    positives : int64 (n_positive,), input
        The labels present.
    weight : float
    """
    for k in range(cols.shape[0]):
        f = cols[k]
        present[f] += weight
        for i in range(positives.shape[0]):
            together[f, positives[i]] += weight


@njit(cache=True)
def _bits(p):
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log2(p) + (1.0 - p) * math.log2(1.0 - p))


@njit(cache=True)
def presence_gains(present, together, positives, n, min_branch, gains):
    """Multi-label information gain of each split "feature non-zero" vs "feature zero".

    ``H = sum_l h(p_l)`` with ``h`` the binary entropy in bits; features whose smaller branch
    would hold less than ``min_branch`` weight get gain 0 without being scored (in text most
    words are rare, and the scoring costs ``n_labels`` logarithms per feature).

    Parameters
    ----------
    present : float64 (n_features,), input
    together : float64 (n_features, n_labels), input
    positives : float64 (n_labels,), input
        Weight of the instances carrying each label.
    n : float
        Weight of all instances.
    min_branch : float
    gains : float64 (n_features,), output
    """
    n_features = present.shape[0]
    n_labels = positives.shape[0]
    h_parent = 0.0
    for j in range(n_labels):
        h_parent += _bits(positives[j] / n)
    for f in range(n_features):
        a = present[f]
        b = n - a
        if a <= 0.0 or b <= 0.0 or a < min_branch or b < min_branch:
            gains[f] = 0.0
            continue
        h_a = 0.0
        h_b = 0.0
        for j in range(n_labels):
            t = together[f, j]
            h_a += _bits(t / a)
            h_b += _bits((positives[j] - t) / b)
        gains[f] = h_parent - (a / n) * h_a - (b / n) * h_b


@njit(cache=True)
def threshold_record(proba, labels, pos_hist, neg_hist, logit_range):
    """Count ``proba`` in the positive or negative histogram of each label.

    Bins split ``[-logit_range, logit_range]`` of the logit evenly; outside values go to the
    end bins.

    Parameters
    ----------
    proba : float64 (n_labels,), input
    labels : float64 (n_labels,), input, values 0 / 1
    pos_hist, neg_hist : float64 (n_labels, n_bins), updated in place
    logit_range : float
    """
    n_bins = pos_hist.shape[1]
    for j in range(proba.shape[0]):
        p = min(max(proba[j], 1e-12), 1.0 - 1e-12)
        z = math.log(p / (1.0 - p))
        b = int(math.floor((z + logit_range) / (2.0 * logit_range) * n_bins))
        if b < 0:
            b = 0
        elif b >= n_bins:
            b = n_bins - 1
        if labels[j] > 0.5:
            pos_hist[j, b] += 1.0
        else:
            neg_hist[j, b] += 1.0


@njit(cache=True)
def label_errors(proba, thresholds, labels):
    """Labels whose decision is wrong: ``proba >= thresholds`` when ``thresholds`` is given
    (one per label, at least as many as ``proba``), else ``proba > 0.5``.

    Parameters
    ----------
    proba : float64 (n_labels,), input
    thresholds : float64 (>= n_labels,) or None, input
    labels : float64 (n_labels,), input, values 0 / 1
    """
    errors = 0
    for j in range(proba.shape[0]):
        if thresholds is None:
            decided = proba[j] > 0.5
        else:
            decided = proba[j] >= thresholds[j]
        if decided != (labels[j] > 0.5):
            errors += 1
    return errors


@njit(cache=True)
def best_thresholds(pos_hist, neg_hist, logit_range, min_positives, error_weight, default,
                    thresholds):
    """Per label, the bin edge of best ``(micro + macro) / 2`` where ``macro = F1 -
    error_weight * errors / instances`` and ``micro = (tp - kappa * fp) / positives``.

    ``macro``: the label's F1 and its share of the Hamming loss traded at one rate for every
    label (the Lagrangian form of "the best macro-F1 for a given Hamming loss"; 0 gives the
    F1-optimal threshold, large values the fewest errors). ``micro``: the label's marginal
    effect on micro-F1, per positive: micro-F1 ``F`` grows with a true positive as much as it
    falls with ``kappa = F / (2 - F)`` false positives, ``F`` read from every label's counts
    at the current ``thresholds`` (on calibrated probabilities: predict where the probability
    exceeds F / 2). "Never" competes (``micro`` 0, the positives as errors): a threshold above
    1.

    Labels with fewer than ``min_positives`` positives keep ``default``. Ties go to the higher
    edge.

    Parameters
    ----------
    pos_hist, neg_hist : float64 (n_labels, n_bins), input
    logit_range, min_positives, error_weight, default : float
    thresholds : float64 (n_labels,), updated in place (probabilities)
    """
    n_labels = pos_hist.shape[0]
    n_bins = pos_hist.shape[1]
    label_pos = np.empty(n_labels)
    label_all = np.empty(n_labels)
    all_tp = 0.0
    all_fp = 0.0
    all_pos = 0.0
    bins_per_logit = n_bins / (2.0 * logit_range)
    for j in range(n_labels):
        p = min(max(thresholds[j], 1e-12), 1.0 - 1e-12)
        edge = int(math.floor((math.log(p / (1.0 - p)) + logit_range) * bins_per_logit + 0.5))
        positives = 0.0
        negatives = 0.0
        for b in range(n_bins):
            positives += pos_hist[j, b]
            negatives += neg_hist[j, b]
        for b in range(max(edge, 0), n_bins):
            all_tp += pos_hist[j, b]
            all_fp += neg_hist[j, b]
        label_pos[j] = positives
        label_all[j] = positives + negatives
        all_pos += positives
    micro_f1 = 2.0 * all_tp / max(all_tp + all_fp + all_pos, 1e-12)
    kappa = micro_f1 / (2.0 - micro_f1)
    for j in range(n_labels):
        total_pos = label_pos[j]
        if total_pos < min_positives:
            thresholds[j] = default
            continue
        error_rate = error_weight / label_all[j]  # per error
        micro_unit = 1.0 / total_pos
        tp = 0.0
        fp = 0.0
        best = 0.5 * (-error_rate * total_pos)  # never predicted
        best_edge = n_bins
        for b in range(n_bins - 1, -1, -1):
            tp += pos_hist[j, b]
            fp += neg_hist[j, b]
            if pos_hist[j, b] <= 0.0:
                continue  # no new positive: the score cannot rise (only false positives added)
            macro = 2.0 * tp / (tp + fp + total_pos) - error_rate * (fp + total_pos - tp)
            score = 0.5 * (macro + (tp - kappa * fp) * micro_unit)
            if score > best:
                best = score
                best_edge = b
        if best_edge == n_bins:
            thresholds[j] = 1.5
        else:
            z = -logit_range + 2.0 * logit_range * best_edge / n_bins
            thresholds[j] = 1.0 / (1.0 + math.exp(-z))


@njit(cache=True)
def budget_thresholds(pos_hist, neg_hist, logit_range, min_positives, error_fraction,
                      thresholds):
    """Per label, the bin edge of best F1 among those whose errors are at most
    ``error_fraction`` of the label's positives (fewer errors than never predicting it);
    above 1 (never) where no edge with a positive above it qualifies or the label has fewer
    than ``min_positives`` positives.

    Errors at an edge: the negatives above it plus the positives below it. Ties go to the
    higher edge.

    Parameters
    ----------
    pos_hist, neg_hist : float64 (n_labels, n_bins), input
    logit_range, min_positives, error_fraction : float
    thresholds : float64 (n_labels,), output (probabilities)
    """
    n_labels = pos_hist.shape[0]
    n_bins = pos_hist.shape[1]
    for j in range(n_labels):
        total_pos = 0.0
        for b in range(n_bins):
            total_pos += pos_hist[j, b]
        thresholds[j] = 1.5
        if total_pos < min_positives or total_pos <= 0.0:
            continue
        bound = error_fraction * total_pos
        tp = 0.0
        fp = 0.0
        best = 0.0
        best_edge = n_bins
        for b in range(n_bins - 1, -1, -1):
            tp += pos_hist[j, b]
            fp += neg_hist[j, b]
            if pos_hist[j, b] <= 0.0:
                continue
            errors = fp + total_pos - tp
            if errors > bound:
                continue
            f1 = 2.0 * tp / (2.0 * tp + errors)
            if f1 > best:
                best = f1
                best_edge = b
        if best_edge < n_bins:
            z = -logit_range + 2.0 * logit_range * best_edge / n_bins
            thresholds[j] = 1.0 / (1.0 + math.exp(-z))


@njit(cache=True)
def _log_odds_proba(z):
    """Probability of a log-odds ``z`` clipped to [-30, 30]."""
    return _sigmoid(min(max(z, -30.0), 30.0))


@njit(cache=True, error_model="numpy")
def gaussian_nb_proba(x, count, mean, m2, positives, n, var_floor, proba):
    """Per-label Gaussian naive Bayes P(label | x) from a leaf's Gaussian statistics.

    Row 0 of ``count / mean / m2`` holds every instance, row ``1 + l`` the instances with
    label ``l``; the statistics of the instances WITHOUT label ``l`` are their difference
    (the parallel-variance merge, undone). Missing features (NaN) and features with fewer
    than 2 instances on either side are left out of the sum.

    Parameters
    ----------
    x : float64 (n_features,), input; NaN = missing
    count, mean, m2 : float64 (n_labels + 1, n_columns), input
    positives : float64 (n_labels,), input
        Weight of the instances with each label.
    n : float
        Weight of all instances.
    var_floor : float
        Added to every variance, relative to the feature's variance over all instances
        (plus 1e-9 absolute).
    proba : float64 (n_labels,), output

    Every denominator on the path taken is positive, so the kernel is compiled without
    zero-division checks (``error_model="numpy"``: a third faster on 174 labels, the same
    results); the per-feature terms shared by the labels are computed once.
    """
    n_labels = positives.shape[0]
    n_features = min(x.shape[0], count.shape[1])
    floor = np.empty(n_features)  # variance floor of each feature
    weighted_mean = np.empty(n_features)  # count * mean over all instances
    for f in range(n_features):
        c_all = count[0, f]
        floor[f] = var_floor * (m2[0, f] / (c_all - 1.0)) + 1e-9 if c_all > 1.0 else 0.0
        weighted_mean[f] = c_all * mean[0, f]
    for j in range(n_labels):
        n_pos = positives[j]
        n_neg = n - n_pos
        if n_pos <= 0.0 or n_neg <= 0.0:
            proba[j] = (n_pos + 0.5) / (n + 1.0)
            continue
        z = math.log((n_pos + 0.5) / (n_neg + 0.5))
        for f in range(n_features):
            v = x[f]
            if v != v:
                continue
            c_all = count[0, f]
            c_pos = count[1 + j, f]
            c_neg = c_all - c_pos
            if c_pos < 2.0 or c_neg < 2.0:
                continue
            mu_all = mean[0, f]
            mu_pos = mean[1 + j, f]
            mu_neg = (weighted_mean[f] - c_pos * mu_pos) / c_neg
            m2_pos = m2[1 + j, f]
            d_pos = mu_pos - mu_all
            d_neg = mu_neg - mu_all
            m2_neg = m2[0, f] - m2_pos - c_pos * (d_pos * d_pos) - c_neg * (d_neg * d_neg)
            var_pos = m2_pos / (c_pos - 1.0) + floor[f]
            var_neg = max(m2_neg, 0.0) / (c_neg - 1.0) + floor[f]
            e_pos = v - mu_pos
            e_neg = v - mu_neg
            z += (0.5 * math.log(var_neg / var_pos) - 0.5 * (e_pos * e_pos) / var_pos
                  + 0.5 * (e_neg * e_neg) / var_neg)
        proba[j] = _log_odds_proba(z)


@njit(cache=True, error_model="numpy")
def multinomial_nb_proba(cols, values, present, together, mass_pos, mass_all, positives, n,
                         alpha, proba):
    """Per-label multinomial naive Bayes P(label | x) from a sparse leaf's presence counts.

    Each label ``l`` is a two-class multinomial model of the words: the instances with ``l``
    against those without it, with word weights ``together[:, l]`` and ``present -
    together[:, l]``, total masses ``mass_pos[l]`` and ``mass_all - mass_pos[l]``, Laplace
    smoothing ``alpha`` over the ``present.shape[0]`` words. Cost: non-zeros x labels.

    Parameters
    ----------
    cols, values : the instance's non-zero features, input
    present : float64 (n_features,), input
    together : float (n_features, >= n_labels), input
    mass_pos : float64 (n_labels,), input
    mass_all : float
    positives : float64 (n_labels,), input
    n : float
    alpha : float
    proba : float64 (n_labels,), output
    """
    n_labels = positives.shape[0]
    n_words = present.shape[0]
    smooth = alpha * max(n_words, 1)
    # A word never seen with label l weighs log(alpha) - log(present + alpha) for every label:
    # summed once; the logarithms of the other words are added for their labels only.
    base = 0.0
    for k in range(cols.shape[0]):
        f = cols[k]
        if f < n_words:
            base += values[k] * (math.log(alpha) - math.log(present[f] + alpha))
    for j in range(n_labels):
        n_pos = positives[j]
        n_neg = n - n_pos
        log_pos = math.log(mass_pos[j] + smooth)
        log_neg = math.log(max(mass_all - mass_pos[j], 0.0) + smooth)
        proba[j] = math.log((n_pos + 0.5) / (n_neg + 0.5)) + base
        for k in range(cols.shape[0]):
            if cols[k] < n_words:
                proba[j] += values[k] * (log_neg - log_pos)
    for k in range(cols.shape[0]):
        f = cols[k]
        if f >= n_words:
            continue
        unseen = math.log(alpha) - math.log(present[f] + alpha)
        for j in range(n_labels):
            t = together[f, j]
            if t > 0.0:
                proba[j] += values[k] * (math.log(t + alpha)
                                         - math.log(max(present[f] - t, 0.0) + alpha) - unseen)
    for j in range(n_labels):
        proba[j] = _log_odds_proba(proba[j])


@njit(cache=True)
def dense_sq_distances(query, columns, n_rows, mean, fmin, fmax, out):
    """Squared Euclidean distance of ``query`` to each of the first ``n_rows`` rows, every
    feature divided by its range ``fmax - fmin`` (features of no or an unknown range left
    out), missing values (NaN, or features beyond the query or the stored ones) read as
    ``mean``.

    Dividing by the range, not the standard deviation, keeps a rare binary feature (a protein
    motif, a one-hot level) at the weight of any other: standardized, a feature present in a
    fraction ``p`` of the instances weighs ``1 / p`` and a few rare ones decide the distance.

    The rows are stored by feature (``columns[f, r]``: feature ``f`` of row ``r``), so that the
    inner loop runs over the rows, one running sum per row, and is vectorized; each row's sum
    still adds its features in feature order (the same value as a loop over the features of
    one row at a time).

    Parameters
    ----------
    query : float64 (n_query,), input; NaN = missing
    columns : float (n_stored, capacity), input; NaN = missing
    n_rows : int
    mean, fmin, fmax : float64 (>= max(n_query, n_stored),), input
        Running mean and extremes of each feature.
    out : float64 (>= n_rows,), output
    """
    n_stored = columns.shape[0]
    n_features = max(query.shape[0], n_stored)
    for r in range(n_rows):
        out[r] = 0.0
    for f in range(n_features):
        span = fmax[f] - fmin[f]
        if not (span > 0.0 and span < np.inf):
            continue
        inv_range = 1.0 / span
        m = mean[f]
        q = query[f] if f < query.shape[0] else np.nan
        if q != q:
            q = m
        if f >= n_stored:  # no row holds the feature: every row reads the mean
            diff = (q - m) * inv_range
            for r in range(n_rows):
                out[r] += diff * diff
            continue
        column = columns[f]
        for r in range(n_rows):
            v = np.float64(column[r])
            if v != v:
                v = m
            diff = (q - v) * inv_range
            out[r] += diff * diff


@njit(cache=True)
def sparse_sq_distances(cols, values, index_start, index_rows, index_values, row_serial,
                        indexed, entry_cols, entry_values, row_start, row_nnz, row_norms, n_rows,
                        scratch, out):
    """Squared Euclidean distance of a sparse query to each of the first ``n_rows`` rows of a
    sparse window: ``|q|^2 + |row|^2 - 2 q.row``.

    The rows added before the last :func:`sparse_column_index` (``row_serial[r] < indexed``)
    are read through that index, by column: only their entries in the query's columns are
    read (the query's non-zeros times their frequency in the window), each row's products
    added in the order of the query's columns, which is the row's own order when both are
    ascending (as :class:`~._spaces.SparseVector` keeps them), so the sum is the one of a pass
    over the row (the products skipped are zeros). The rows added since (and those that
    replaced an indexed row) are read whole, from the window's store: row ``r`` is the
    ``row_nnz[r]`` entries of ``entry_cols`` / ``entry_values`` from ``row_start[r]`` on.

    Parameters
    ----------
    cols, values : the query's non-zero features (cols ascending), input
    index_start, index_rows, index_values : the column index (:func:`sparse_column_index`)
    row_serial : int64 (>= n_rows,), input
        When each row was added (0, 1, ...).
    indexed : int
        Rows added before the index was built.
    entry_cols : int64 (capacity,), input
    entry_values : float (capacity,), input
    row_start, row_nnz : int64 (>= n_rows,), input
    row_norms : float64 (>= n_rows,), input
        Squared norm of each row (:func:`sparse_sq_norm`).
    n_rows : int
    scratch : float64, workspace
        Zeros, longer than every column index of the query and of the rows; returned zeroed.
    out : float64 (>= n_rows,), output
    """
    for r in range(n_rows):
        out[r] = 0.0  # the dot products first
    q_norm = 0.0
    n_indexed_columns = index_start.shape[0] - 1
    for k in range(cols.shape[0]):
        v = values[k]
        q_norm += v * v
        c = cols[k]
        scratch[c] = v
        if c < n_indexed_columns:
            for p in range(index_start[c], index_start[c + 1]):
                r = index_rows[p]
                if row_serial[r] < indexed:  # not replaced since the index was built
                    out[r] += v * index_values[p]
    n_scratch = scratch.shape[0]
    for r in range(n_rows):
        if row_serial[r] >= indexed:
            dot = 0.0
            start = row_start[r]
            for e in range(start, start + row_nnz[r]):
                c = entry_cols[e]
                if c < n_scratch:
                    dot += scratch[c] * entry_values[e]
            out[r] = dot
    for k in range(cols.shape[0]):
        scratch[cols[k]] = 0.0
    for r in range(n_rows):
        out[r] = q_norm + row_norms[r] - 2.0 * out[r]


@njit(cache=True)
def sparse_column_index(entry_cols, entry_values, row_start, row_nnz, n_rows, index_start,
                        index_rows, index_values):
    """The first ``n_rows`` sparse rows by column (a counting sort of their entries): the
    entries of column ``c`` are ``index_rows`` / ``index_values`` at
    ``index_start[c]:index_start[c + 1]``.

    Parameters
    ----------
    entry_cols, entry_values, row_start, row_nnz, n_rows : the rows, as in
        :func:`sparse_sq_distances`, input
    index_start : int64 (n_columns + 1,), output; n_columns above every column index
    index_rows : int64 (>= the rows' entries,), output
    index_values : float (>= the rows' entries,), output
    """
    index_start[:] = 0
    for r in range(n_rows):
        start = row_start[r]
        for e in range(start, start + row_nnz[r]):
            index_start[entry_cols[e] + 1] += 1
    for c in range(1, index_start.shape[0]):
        index_start[c] += index_start[c - 1]
    cursor = index_start[:-1].copy()
    for r in range(n_rows):
        start = row_start[r]
        for e in range(start, start + row_nnz[r]):
            c = entry_cols[e]
            p = cursor[c]
            index_rows[p] = r
            index_values[p] = entry_values[e]
            cursor[c] = p + 1


@njit(cache=True)
def sparse_sq_norm(values, nnz):
    """Squared norm of the first ``nnz`` ``values`` of a sparse row, summed in their order
    (each square in the values' precision, the sum in float64)."""
    total = 0.0
    for k in range(nnz):
        v = values[k]
        total += np.float64(v * v)
    return total


@njit(cache=True)
def young_additions(nearest_labels, tree, positives, tree_tp, min_positives, out):
    """The labels the most similar instance would add to the tree's decisions on young
    labels: carried by it (``nearest_labels``), not predicted by the tree, fewer than
    ``min_positives`` positives and fewer than 0.5 (decayed) true positives of the tree (on
    a label the tree has found lately, what it leaves is mostly not the label). Writes 0/1
    into ``out``; returns how many.

    Parameters
    ----------
    nearest_labels, tree, positives, tree_tp : float64 (n_labels,), input
    min_positives : float
    out : float64 (n_labels,), output
    """
    n = 0
    for j in range(out.shape[0]):
        if (nearest_labels[j] > 0.5 and tree[j] <= 0.5 and positives[j] < min_positives
                and tree_tp[j] < 0.5):
            out[j] = 1.0
            n += 1
        else:
            out[j] = 0.0
    return n


@njit(cache=True)
def most_similar_row(sq_dist, row_norms, n_rows, q_norm):
    """The row of highest cosine similarity to a query and that similarity (first such row;
    (-1, 0.0) when no row has a positive one), read from the squared distances
    ``|q|^2 + |row|^2 - 2 q.row``: ``cos = (|q|^2 + |row|^2 - d^2) / (2 |q| |row|)``.

    Parameters
    ----------
    sq_dist, row_norms : float64 (>= n_rows,), input
        Squared distances to the query and squared norms of the rows.
    n_rows : int
    q_norm : float
        Squared norm of the query.
    """
    best = -1
    best_cosine = 0.0
    for r in range(n_rows):
        denominator = math.sqrt(q_norm * row_norms[r])
        if denominator <= 0.0:
            continue
        cosine = 0.5 * (q_norm + row_norms[r] - sq_dist[r]) / denominator
        if cosine > best_cosine:
            best_cosine = cosine
            best = r
    return best, best_cosine


@njit(cache=True)
def neighbour_vote(dist, n_rows, k, labels, proba, nearest):
    """The ``k`` nearest of the first ``n_rows`` rows (smallest ``dist``) and their vote.

    ``proba[j]``: the fraction of the ``k`` nearest rows whose ``labels`` row carries label
    ``j``; ``nearest``: the labels row of the nearest one (the first in row order among equal
    distances). Returns False, with the outputs left unset, when the set of the ``k`` nearest
    is not unique (the k-th and the next distance are equal) or a distance is NaN: the caller
    then picks the set itself.

    Parameters
    ----------
    dist : float64 (>= n_rows,), input
    n_rows, k : int, 1 <= k <= n_rows
    labels : float (>= n_rows, n_labels), input
    proba, nearest : float64 (n_labels,), output
    """
    best_d = np.empty(k)
    best_i = np.empty(k, dtype=np.int64)
    m = 0
    outside = np.inf  # smallest distance of a row not kept
    first = 0
    for r in range(n_rows):
        d = dist[r]
        if d != d:
            return False
        if d < dist[first]:
            first = r
        if m < k:
            p = m
            m += 1
        elif d < best_d[k - 1]:
            outside = min(outside, best_d[k - 1])
            p = k - 1
        else:
            outside = min(outside, d)
            continue
        while p > 0 and best_d[p - 1] > d:
            best_d[p] = best_d[p - 1]
            best_i[p] = best_i[p - 1]
            p -= 1
        best_d[p] = d
        best_i[p] = r
    if outside == best_d[k - 1]:
        return False
    for j in range(labels.shape[1]):
        total = 0.0
        for i in range(k):
            total += labels[best_i[i], j]
        proba[j] = total / k
        nearest[j] = labels[first, j]
    return True


@njit(cache=True)
def dense_window_store(columns, r, x, count, mean, fmin, fmax):
    """Store the raw vector ``x`` as row ``r`` of a dense window (``columns[f, r]``, NaN
    beyond ``x``) and add it to the window's running count, mean and extremes of each feature
    (NaN ignored; the mean updated as :func:`gaussian_update` does at weight 1).

    Parameters
    ----------
    columns : float32 (>= n_features, capacity), updated in place
    r : int
    x : float64 (n_features,), input; NaN = missing
    count, mean, fmin, fmax : float64 (>= n_features,), updated in place
    """
    for f in range(x.shape[0]):
        v = x[f]
        columns[f, r] = v
        if v != v:
            continue
        c = count[f] + 1.0
        mean[f] += (v - mean[f]) / c
        count[f] = c
        if v < fmin[f]:
            fmin[f] = v
        if v > fmax[f]:
            fmax[f] = v
    for f in range(x.shape[0], columns.shape[0]):
        columns[f, r] = np.nan


@njit(cache=True)
def dense_neighbours(query, columns, n_rows, mean, fmin, fmax, k, labels, dist, proba,
                     nearest):
    """:func:`dense_sq_distances` into ``dist``, then :func:`neighbour_vote` (one call per
    query); returns the vote's flag."""
    dense_sq_distances(query, columns, n_rows, mean, fmin, fmax, dist)
    return neighbour_vote(dist, n_rows, k, labels, proba, nearest)


@njit(cache=True)
def sparse_neighbours(cols, values, index_start, index_rows, index_values, row_serial, indexed,
                      entry_cols, entry_values, row_start, row_nnz, row_norms, n_rows, scratch,
                      k, labels, dist, proba, nearest):
    """:func:`sparse_sq_distances` into ``dist``, then :func:`neighbour_vote` (one call per
    query); returns the vote's flag."""
    sparse_sq_distances(cols, values, index_start, index_rows, index_values, row_serial, indexed,
                        entry_cols, entry_values, row_start, row_nnz, row_norms, n_rows, scratch,
                        dist)
    return neighbour_vote(dist, n_rows, k, labels, proba, nearest)


@njit(cache=True, inline="always")
def _answer_counts(answer, labels):
    tp = 0
    fp = 0
    fn = 0
    for j in range(labels.shape[0]):
        hit = answer[j] > 0.5
        truth = labels[j] > 0.5
        if hit and truth:
            tp += 1
        elif hit:
            fp += 1
        elif truth:
            fn += 1
    return tp, fp, fn


@njit(cache=True)
def evidence_shift(proba, nb_proba, positives, n, weight, evidence, shifted):
    """Naive Bayes' tempered log-likelihood ratios and the leaf probabilities they shift.

    Per label ``j``: ``evidence[j] = weight * (logit(nb_proba[j]) - logit(prior[j]))`` with
    ``prior = (positives + 0.5) / (n + 1)`` (naive Bayes' log-odds less the prior it holds),
    and ``shifted[j] = sigmoid(logit(proba[j]) + evidence[j])`` (logits of probabilities
    clipped to [1e-12, 1 - 1e-12], the sum to [-30, 30]).

    Parameters
    ----------
    proba, nb_proba, positives : float64 (n_labels,), input
    n, weight : float
    evidence, shifted : float64 (n_labels,), output
    """
    for j in range(proba.shape[0]):
        q = min(max(nb_proba[j], 1e-12), 1.0 - 1e-12)
        prior = (positives[j] + 0.5) / (n + 1.0)
        e = weight * (math.log(q / (1.0 - q)) - math.log(prior / (1.0 - prior)))
        evidence[j] = e
        p = min(max(proba[j], 1e-12), 1.0 - 1e-12)
        shifted[j] = _log_odds_proba(math.log(p / (1.0 - p)) + e)


@njit(cache=True)
def evidence_decodings(score, rows, evidence):
    """The rows of best score without and with the evidence (``_tree.Leaf.decide_with_evidence``).

    Row 0 is the plain per-label decision, row 1 the per-label decision of the shifted
    probabilities, the others the leaf's frequent label sets. Without the evidence: the first
    row of highest ``score`` among every row but row 1. With it: the first row of highest
    ``score[k] + sum_j rows[k, j] * evidence[j]``.

    Parameters
    ----------
    score : float64 (n_rows,), input (the rows' joint log-probabilities under the leaf model)
    rows : float64 (n_rows, n_labels), input, values 0 / 1
    evidence : float64 (n_labels,), input

    Returns
    -------
    (int, int)
    """
    plain = 0
    best_plain = score[0]
    shifted = 0
    best_shifted = -np.inf
    for k in range(rows.shape[0]):
        total = score[k]
        for j in range(rows.shape[1]):
            if rows[k, j] > 0.5:
                total += evidence[j]
        if total > best_shifted:
            best_shifted = total
            shifted = k
        if k >= 2 and score[k] > best_plain:
            best_plain = score[k]
            plain = k
    return plain, shifted


@njit(cache=True)
def decoding_record(plain, with_evidence, labels, errors, plain_wins):
    """Count one instance's label errors of two answers and whose label set alone was right.

    Parameters
    ----------
    plain, with_evidence, labels : float64 (n_labels,), input, values 0 / 1
    errors : float64 (2,), updated in place (slot 0: ``plain``, slot 1: ``with_evidence``)
    plain_wins : float64 (2,), updated in place: slot 0 counts the instances where only
        ``plain`` matched ``labels`` exactly, slot 1 those where only ``with_evidence`` did
    """
    wrong_plain = 0
    wrong_evidence = 0
    for j in range(labels.shape[0]):
        truth = labels[j] > 0.5
        if (plain[j] > 0.5) != truth:
            wrong_plain += 1
        if (with_evidence[j] > 0.5) != truth:
            wrong_evidence += 1
    errors[0] += wrong_plain
    errors[1] += wrong_evidence
    if wrong_plain == 0 and wrong_evidence > 0:
        plain_wins[0] += 1.0
    elif wrong_evidence == 0 and wrong_plain > 0:
        plain_wins[1] += 1.0


@njit(cache=True)
def joint_record(per_label, neighbour, labels, tp, fp, fn, errors, exact):
    """Count one instance's true positives, false positives, false negatives, label errors
    and exact matches of two answers (slot 0: ``per_label``, slot 1: ``neighbour``).

    Parameters
    ----------
    per_label, neighbour : float64 (n_labels,), input, values 0 / 1
    labels : float64 (n_labels,), input, values 0 / 1
    tp, fp, fn, errors, exact : float64 (2,), updated in place
    """
    for i in range(2):
        if i == 0:
            a, b, c = _answer_counts(per_label, labels)
        else:
            a, b, c = _answer_counts(neighbour, labels)
        tp[i] += a
        fp[i] += b
        fn[i] += c
        errors[i] += b + c
        if b + c == 0:
            exact[i] += 1.0


@njit(cache=True)
def rule_record(decisions, labels, choice, tp, fp, fn, positives, exact):
    """Count each rule's true positives, false positives, false negatives and exact matches
    of one instance.

    ``exact[r, j]`` counts the instances where rule ``r`` was right on label ``j`` and the
    answer given (each label's chosen rule, ``choice``) was right on every other label: the
    exact label-set matches the answer would have had with rule ``r`` on label ``j``.
    Returns the number of labels the answer got wrong.

    Parameters
    ----------
    decisions : float64 (n_rules, n_labels), input, values 0 / 1
    labels : float64 (n_labels,), input, values 0 / 1
    choice : int64 (n_labels,), input (-1: never predicted)
    tp, fp, fn, exact : float64 (n_rules, n_labels), updated in place
    positives : float64 (n_labels,), updated in place
    """
    n_wrong = 0
    for j in range(labels.shape[0]):
        answer = choice[j] >= 0 and decisions[choice[j], j] > 0.5
        if answer != (labels[j] > 0.5):
            n_wrong += 1
    for j in range(labels.shape[0]):
        truth = labels[j] > 0.5
        answer = choice[j] >= 0 and decisions[choice[j], j] > 0.5
        others_right = n_wrong - (1 if answer != truth else 0) == 0
        if truth:
            positives[j] += 1.0
        for r in range(decisions.shape[0]):
            hit = decisions[r, j] > 0.5
            if hit and truth:
                tp[r, j] += 1.0
            elif hit:
                fp[r, j] += 1.0
            elif truth:
                fn[r, j] += 1.0
            if others_right and hit == truth:
                exact[r, j] += 1.0
    return n_wrong


@njit(cache=True)
def rule_decide(decisions, choice, out):
    """Per label, the decision of its chosen rule (``choice`` < 0: 0, never predicted).

    Parameters
    ----------
    decisions : float64 (n_rules, n_labels), input
    choice : int64 (n_labels,), input
    out : float64 (n_labels,), output
    """
    for j in range(choice.shape[0]):
        out[j] = 0.0 if choice[j] < 0 else decisions[choice[j], j]


# Relative width of the bracket at which the bisection of ``rule_choose``'s one error rate
# stops (it ran 60 halvings; at 1e-9 the same predictions on ten sets x 3 orders, and the
# kernel in 0.65x the time on cal500 and bibtex; docs/multilabel.md).
LAGRANGE_TOLERANCE = 1e-9


@njit(cache=True)
def rule_choose(tp, fp, fn, exact, positives, margin, min_positives, budget_fraction,
                micro_trade, young_rule, choice, fallback_only_from=-1, scored_never=True):
    """Per label, the decision rule to follow (``choice``: a row of ``tp``, or -1: never).

    A label with fewer than ``min_positives`` positives (young) follows rule ``young_rule``
    (rule 0, the default, or a rule made for labels too young to be scored). Else the
    rule of best F1 ``2 tp / (2 tp + fp + fn)`` among those with no fewer exact label-set
    matches ``exact`` and no more errors ``fp + fn`` than rule 0, or, with ``micro_trade`` and
    on a label of which rule 0 finds fewer than half the positives, more true positives than
    rule 0 at no loss of micro-F1: ``tp - tp0 >= kappa (fp - fp0)`` with ``kappa = F / (2 -
    F)``, ``F`` the micro-F1 of the current choices (true positives on a label the tree mostly
    misses, bought with a few errors the Hamming budget below can pay). The current choice
    gets ``margin`` extra F1 (hysteresis). Hamming budget: while
    the default rule's errors exceed ``budget_fraction`` of all positives, young labels follow
    ``young_rule``, else rule 0, only where it hit them and erred less than that fraction of
    their positives (else never); and while the chosen rules' errors exceed it, every label
    with ``min_positives`` positives takes the option (a rule, or never: F1 0, errors its
    positives) of best ``F1 - lam * errors`` (ties: fewer errors), one rate ``lam`` for all
    labels, the least (bisected) at which the errors fit the budget: the Lagrangian form of
    the best summed F1 within the budget, so the errors go to the labels where they buy the
    most F1; the other (young) labels take their rule of best F1 among those that err less
    than their choice and than ``budget_fraction`` of their positives, if any. The rules
    from ``fallback_only_from`` on (if not -1) are options of that over-budget stage only.
    Without ``scored_never``, "never" is no option of the labels with ``min_positives``
    positives there: their cheapest option is a rule (MLHAT's rule at thresholds that erred no
    more than never predicting), whose counts are then what the budget sees.

    Parameters
    ----------
    tp, fp, fn, exact : float64 (n_rules, n_labels), input
    positives : float64 (n_labels,), input
    margin, min_positives, budget_fraction : float
    micro_trade : bool
    young_rule : int
    choice : int64 (n_labels,), updated in place
    fallback_only_from : int
    scored_never : bool
    """
    n_rules, n_labels = tp.shape
    total_pos = 0.0
    default_errors = 0.0
    cur_tp = 0.0
    cur_errors = 0.0
    for j in range(n_labels):
        total_pos += positives[j]
        default_errors += fp[0, j] + fn[0, j]
        if choice[j] < 0:
            cur_errors += positives[j]
        else:
            cur_tp += tp[choice[j], j]
            cur_errors += fp[choice[j], j] + fn[choice[j], j]
    micro_f1 = 2.0 * cur_tp / max(2.0 * cur_tp + cur_errors, 1e-12)
    kappa = micro_f1 / (2.0 - micro_f1)
    budget = budget_fraction * total_pos
    over = default_errors > budget
    chosen_errors = np.empty(n_labels)
    for j in range(n_labels):
        e0 = fp[0, j] + fn[0, j]
        if positives[j] < min_positives:
            c = young_rule
            if over:
                c = -1
                for r in (young_rule, 0):
                    if tp[r, j] > 0.0 and (
                        fp[r, j] + fn[r, j] <= budget_fraction * positives[j]
                    ):
                        c = r
                        break
        else:
            current = max(choice[j], 0)
            c = 0
            best = -1.0
            for r in range(n_rules):
                e = fp[r, j] + fn[r, j]
                if 0 <= fallback_only_from <= r or exact[r, j] < exact[0, j] - 1e-9:
                    continue
                if e > e0 + 1e-9 and not (
                    micro_trade and r != young_rule
                    and tp[r, j] > tp[0, j] + 1e-9 and 2.0 * tp[0, j] < positives[j]
                    and tp[r, j] - tp[0, j] >= kappa * (fp[r, j] - fp[0, j])
                ):
                    continue
                f = 2.0 * tp[r, j] / max(2.0 * tp[r, j] + e, 1e-12)
                if r == current:
                    f += margin
                if f > best:
                    best = f
                    c = r
        choice[j] = c
        chosen_errors[j] = positives[j] if c < 0 else fp[c, j] + fn[c, j]
    total = 0.0
    for j in range(n_labels):
        total += chosen_errors[j]
    if total <= budget:
        return
    # Over budget: every scored label takes the option (a rule, or never) of best
    # ``F1 - lam * errors``, one rate ``lam`` for all labels, the least that fits the budget
    # (bisected): the errors go where they buy the most F1. Young labels take their best rule
    # within ``budget_fraction`` of their positives where it errs less than their choice.
    young_errors = 0.0
    for j in range(n_labels):
        if positives[j] < min_positives:
            fb_f1 = -1.0
            for r in range(n_rules):
                e = fp[r, j] + fn[r, j]
                if e > budget_fraction * positives[j] or e >= chosen_errors[j]:
                    continue
                f = 2.0 * tp[r, j] / max(2.0 * tp[r, j] + e, 1e-12)
                if f > fb_f1:
                    fb_f1 = f
                    choice[j] = r
            young_errors += positives[j] if choice[j] < 0 else fp[choice[j], j] + fn[choice[j], j]
    lo = 0.0
    hi = 1.0
    while hi < 1e6 and (
        _lagrange_errors(tp, fp, fn, positives, min_positives, hi, scored_never)
        + young_errors > budget
    ):
        lo = hi
        hi *= 4.0
    # The least rate that fits is one at which a label's option changes; hi ends within
    # LAGRANGE_TOLERANCE (relative) above it: another such rate that close is the only way
    # the options could differ from those just above it.
    for _ in range(60):
        if hi - lo <= LAGRANGE_TOLERANCE * hi:
            break
        mid = 0.5 * (lo + hi)
        if (_lagrange_errors(tp, fp, fn, positives, min_positives, mid, scored_never)
                + young_errors > budget):
            lo = mid
        else:
            hi = mid
    for j in range(n_labels):
        if positives[j] >= min_positives:
            choice[j] = _lagrange_option(tp, fp, fn, positives, j, hi, scored_never)


@njit(cache=True)
def _lagrange_option(tp, fp, fn, positives, j, lam, scored_never):
    """Label ``j``'s option of best ``F1 - lam * errors``: a rule, or -1 (never: F1 0, errors
    its positives; an option only with ``scored_never``); ties go to fewer errors."""
    best = -lam * positives[j] if scored_never else -np.inf
    best_e = positives[j] if scored_never else np.inf
    c = -1
    for r in range(tp.shape[0]):
        e = fp[r, j] + fn[r, j]
        v = 2.0 * tp[r, j] / max(2.0 * tp[r, j] + e, 1e-12) - lam * e
        if v > best + 1e-12 or (v > best - 1e-12 and e < best_e):
            best = v
            best_e = e
            c = r
    return c


@njit(cache=True)
def _lagrange_errors(tp, fp, fn, positives, min_positives, lam, scored_never):
    """Errors of the scored labels' ``_lagrange_option`` at rate ``lam``."""
    total = 0.0
    for j in range(tp.shape[1]):
        if positives[j] >= min_positives:
            c = _lagrange_option(tp, fp, fn, positives, j, lam, scored_never)
            total += positives[j] if c < 0 else fp[c, j] + fn[c, j]
    return total


# ------------------------------------------------------------------ label-set naive Bayes
@njit(cache=True, error_model="numpy")
def label_set_variances(count, m2, all_m2, n_all, first, last, inv_var, log_var_sum):
    """The Gaussian variances of label sets ``first`` to ``last - 1`` of
    ``_rules.LabelSetBayes``: ``v_sf = (m2_sf + v_f) / count_s`` with ``v_f = all_m2_f /
    (n_all - 1) + 1e-9`` (each set's variance shrunk toward the feature's overall variance by
    one instance's weight), kept as ``1 / v_sf`` and ``sum_f log v_sf``.

    Parameters
    ----------
    count, m2, all_m2 : input (see ``label_set_add``)
    n_all : float (>= 2)
    first, last : int
    inv_var : float64 (max_sets, n_features), output (rows ``first`` to ``last - 1``)
    log_var_sum : float64 (max_sets,), output (same rows)
    """
    for s in range(first, last):
        acc = 0.0
        for f in range(all_m2.shape[0]):
            v = (m2[s, f] + all_m2[f] / (n_all - 1.0) + 1e-9) / count[s]
            inv_var[s, f] = 1.0 / v
            acc += math.log(v)
        log_var_sum[s] = acc


@njit(cache=True)
def _set_index(sets, k, y):
    """Row of the 0/1 label set ``y`` among the first ``k`` rows of ``sets`` (-1: none)."""
    for r in range(k):
        same = True
        for j in range(y.shape[0]):
            if (sets[r, j] > 0.5) != (y[j] > 0.5):
                same = False
                break
        if same:
            return r
    return -1


@njit(cache=True, error_model="numpy")
def label_set_add(xv, y, sets, k, count, log_count, mean, m2, all_mean, all_m2, n_all,
                  refresh_all, inv_var, log_var_sum):
    """Learn one instance into ``_rules.LabelSetBayes``; returns the number of label sets
    stored after it.

    The instance's label set ``y`` is looked up among the first ``k`` rows of ``sets``; a new
    one is stored in the next row while there is one, else in place of the first set seen only
    once (``count <= 1``), else not at all. The running mean and sum of squared deviations of
    every feature are updated over all instances (``n_all`` counts those before this one) and
    over the instances of its set (with the set's count and its logarithm); then the variances
    of its set, or of every stored set with ``refresh_all`` (``label_set_variances``, from the
    second instance on). A missing value (NaN) reads as the feature's running mean over all
    instances before this one.

    Parameters
    ----------
    xv : float64 (n_features,), input
    y : float64 (n_labels,), input, values 0 / 1
    sets : float64 (max_sets, n_labels), updated in place
    k : int
    count, log_count : float64 (max_sets,), updated in place
    mean, m2 : float64 (max_sets, n_features), updated in place
    all_mean, all_m2 : float64 (n_features,), updated in place
    n_all : float
    refresh_all : bool
    inv_var, log_var_sum : see ``label_set_variances``, updated in place

    Returns
    -------
    int
    """
    n_labels = y.shape[0]
    s = _set_index(sets, k, y)
    if s < 0:
        if k < sets.shape[0]:
            s = k
            k += 1
        else:
            for r in range(k):
                if count[r] <= 1.0:
                    s = r
                    break
        if s >= 0:
            for j in range(n_labels):
                sets[s, j] = 1.0 if y[j] > 0.5 else 0.0
            count[s] = 0.0
            for f in range(mean.shape[1]):
                mean[s, f] = 0.0
                m2[s, f] = 0.0
    if s >= 0:
        count[s] += 1.0
        log_count[s] = math.log(count[s])
    for f in range(xv.shape[0]):
        x = xv[f]
        if math.isnan(x):
            x = all_mean[f]
        d = x - all_mean[f]
        all_mean[f] += d / (n_all + 1.0)
        all_m2[f] += d * (x - all_mean[f])
        if s >= 0:
            d = x - mean[s, f]
            mean[s, f] += d / count[s]
            m2[s, f] += d * (x - mean[s, f])
    if n_all + 1.0 >= 2.0:
        if refresh_all:
            label_set_variances(count, m2, all_m2, n_all + 1.0, 0, k, inv_var, log_var_sum)
        elif s >= 0:
            label_set_variances(count, m2, all_m2, n_all + 1.0, s, s + 1, inv_var, log_var_sum)
    return k


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def label_set_decode(xv, xs, log_count, mean, all_mean, inv_var, log_var_sum, k, sets, m,
                     weight, coef, intercept, chain, use_chain, log_post, rows, prior, score,
                     row):
    """Rescore label set ``row`` (0/1, updated in place) with ``_rules.LabelSetBayes``
    (``MLHAT._set_decode``): per stored set ``s < k`` its log posterior given ``xv`` up to a
    constant, ``log count_s - 0.5 sum_f ((x_f - mean_sf)^2 / v_sf + log v_sf)`` (variances
    from ``label_set_variances``; a missing value reads as the feature's running mean, written
    to ``log_post``); the ``m`` sets of highest posterior, then ``row`` itself (its own
    posterior where stored, else the lowest), in ``rows``; ``row`` becomes the first of them of
    highest joint log-probability under the leaf's chain (``chain_joint_log_proba`` of ``xs``,
    in ``score``) plus ``weight`` times its log posterior (in ``prior``).

    Parameters
    ----------
    xv, xs : float64 (n_features,), input (raw and standardized features)
    log_count, mean, all_mean, inv_var, log_var_sum : input (see ``label_set_add``)
    k : int (>= 1)
    sets : float64 (max_sets, n_labels), input, values 0 / 1
    m : int
    weight : float
    coef, intercept, chain, use_chain : the leaf model's chain (see ``chain_logits``), input
    log_post : float64 (>= k,), output
    rows : float64 (>= m + 1, n_labels), output
    prior, score : float64 (>= m + 1,), output
    row : float64 (n_labels,), updated in place
    """
    n_features = xv.shape[0]
    x = np.empty(n_features)
    for f in range(n_features):
        x[f] = all_mean[f] if math.isnan(xv[f]) else xv[f]
    lowest = np.inf
    for s in range(k):
        acc = 0.0
        for f in range(n_features):
            d = x[f] - mean[s, f]
            acc += d * d * inv_var[s, f]
        lp = log_count[s] - 0.5 * (acc + log_var_sum[s])
        log_post[s] = lp
        if lp < lowest:
            lowest = lp
    own = _set_index(sets, k, row)
    own_post = log_post[own] if own >= 0 else lowest
    n = min(m, k)
    taken = np.zeros(k, dtype=np.bool_)
    for i in range(n):
        best = -1
        for s in range(k):
            if not taken[s] and (best < 0 or log_post[s] > log_post[best]):
                best = s
        taken[best] = True
        rows[i] = sets[best]
        prior[i] = weight * log_post[best]
    rows[n] = row
    prior[n] = weight * own_post
    chain_joint_log_proba(xs, coef, intercept, chain, use_chain, rows[:n + 1], score[:n + 1])
    best = 0
    for i in range(1, n + 1):
        if score[i] + prior[i] > score[best] + prior[best]:
            best = i
    for j in range(row.shape[0]):
        row[j] = rows[best, j]


@njit(cache=True)
def set_choice_record(own, rescored, labels, counts, own_wins):
    """Count one instance for ``_rules.SetDecodingChoice``: per answer (the tree's own label set
    and the rescored one, 0/1) and label its true positives, false positives and false
    negatives, and, where exactly one of the two matched the true label set, the own answer's
    win or loss. Returns the rescored answer's summed per-label F1 ``2 tp / (2 tp + fp + fn)``
    (0 where a label has no count) less the own answer's, over the counts after this one.

    Parameters
    ----------
    own, rescored, labels : float64 (n_labels,), input, values 0 / 1
    counts : float64 (2, 3, n_labels), updated in place
    own_wins : float64 (2,), updated in place (wins, losses)

    Returns
    -------
    float
    """
    own_match = True
    set_match = True
    for j in range(labels.shape[0]):
        truth = labels[j] > 0.5
        for k in range(2):
            hit = (own[j] if k == 0 else rescored[j]) > 0.5
            if hit and truth:
                counts[k, 0, j] += 1.0
            elif hit:
                counts[k, 1, j] += 1.0
            elif truth:
                counts[k, 2, j] += 1.0
            if hit != truth:
                if k == 0:
                    own_match = False
                else:
                    set_match = False
    if own_match and not set_match:
        own_wins[0] += 1.0
    elif set_match and not own_match:
        own_wins[1] += 1.0
    gain = 0.0
    for j in range(labels.shape[0]):
        for k in range(2):
            tp = counts[k, 0, j]
            d = 2.0 * tp + counts[k, 1, j] + counts[k, 2, j]
            if d > 0.0:
                gain += (2.0 * tp / d) if k == 1 else -(2.0 * tp / d)
    return gain



def warm_up():
    """Compile (or load from cache) every kernel on tiny inputs."""
    half = np.full(2, 0.5)
    evidence_shift(half, half, np.ones(2), 4.0, 0.05, np.zeros(2), np.zeros(2))
    evidence_decodings(np.zeros(3), np.zeros((3, 2)), np.zeros(2))
    decoding_record(half, half, half, np.zeros(2), np.zeros(2))
    c = np.zeros((2, 3))
    gaussian_update(c, c.copy(), c.copy(), np.array([0], dtype=np.int64), np.zeros(3), 1.0)
    coef = np.zeros((1, 2, 3))
    inter = np.zeros((1, 2))
    chain = np.zeros((1, 2, 2))
    proba = np.zeros(2)
    chain_logits(np.zeros(3), coef, inter, chain, True, proba, np.zeros((1, 2)))
    chain_joint_log_proba(np.zeros(3), coef, inter, chain, True, np.zeros((2, 2)), np.zeros(2))
    standardize(np.zeros(3), c[:1], c[:1], c[:1], 8.0, np.zeros(3))
    chain_sgd(np.zeros(3), np.zeros(2), np.ones(1), coef, inter, chain, True, 0.1, 0.1, 0.0,
              coef.copy(), inter.copy(), chain.copy(), 0.999, np.zeros((1, 2)))
    cols = np.array([0, 2], dtype=np.int64)
    vals = np.ones(2)
    scoef = np.zeros((1, 3, 2), dtype=np.float32)  # the dtype MLHAT's sparse leaves use
    sparse_logits(cols, vals, scoef, inter, proba)
    sparse_sgd(cols, vals, np.zeros(2), np.ones(1), scoef, inter, 0.1, 0.1, 0.0, scoef.copy(),
               inter.copy(), 0.999, np.zeros((1, 2)))
    present = np.zeros(3)
    together = np.zeros((3, 2), dtype=np.float32)
    presence_update(present, together, cols, np.array([1], dtype=np.int64), 1.0)
    presence_gains(present, together, np.ones(2), 2.0, 0.0, np.zeros(3))
    hist = np.zeros((2, 4))
    threshold_record(proba, np.zeros(2), hist, hist.copy(), 8.0)
    label_errors(proba, None, np.zeros(2))
    label_errors(proba, np.zeros(2), np.zeros(2))
    best_thresholds(hist, hist.copy(), 8.0, 2.0, 1.0, 0.5, np.zeros(2))
    budget_thresholds(hist, hist.copy(), 8.0, 2.0, 0.95, np.zeros(2))
    gaussian_nb_proba(np.zeros(3), c, c.copy(), c.copy(), np.ones(1), 2.0, 0.01, np.zeros(1))
    multinomial_nb_proba(cols, vals, present, together, np.ones(2), 2.0, np.ones(2), 2.0, 1.0,
                         proba)
    dist = np.zeros(2)
    rules = np.zeros((2, 2))
    rule_record(rules, np.zeros(2), np.zeros(2, dtype=np.int64), rules.copy(), rules.copy(),
                rules.copy(), np.zeros(2), rules.copy())
    rule_decide(rules, np.zeros(2, dtype=np.int64), np.zeros(2))
    rule_choose(rules, rules.copy(), rules.copy(), rules.copy(), np.ones(2), 0.01, 5.0, 0.95,
                True, 1, np.zeros(2, dtype=np.int64))
    dense_window_store(np.zeros((3, 2), dtype=np.float32), 0, np.zeros(3), np.zeros(3),
                       np.zeros(3), np.zeros(3), np.zeros(3))
    dense_neighbours(np.zeros(3), np.zeros((3, 2), dtype=np.float32), 2, np.zeros(3),
                     np.zeros(3), np.ones(3), 1, np.zeros((2, 2), dtype=np.float32), dist,
                     np.zeros(2), np.zeros(2))
    entry_cols = np.array([0, 2, 2], dtype=np.int64)
    entry_values = np.ones(3, dtype=np.float32)
    row_start = np.array([0, 2])
    row_nnz = np.array([2, 1])
    index_start = np.zeros(4, dtype=np.int64)
    index_rows = np.zeros(3, dtype=np.int64)
    index_values = np.zeros(3, dtype=np.float32)
    sparse_column_index(entry_cols, entry_values, row_start, row_nnz, 2, index_start, index_rows,
                        index_values)
    sparse_neighbours(cols, vals, index_start, index_rows, index_values, np.array([0, 1]), 1,
                      entry_cols, entry_values, row_start, row_nnz, np.zeros(2), 2, np.zeros(3),
                      1, np.zeros((2, 2), dtype=np.float32), dist, np.zeros(2), np.zeros(2))
    sparse_sq_norm(np.zeros(2, dtype=np.float32), 2)
    most_similar_row(dist, np.ones(2), 2, 1.0)
    young_additions(proba, proba.copy(), proba.copy(), proba.copy(), 5.0, np.zeros(2))
    # Kernels of the per-instance fast paths.
    scatter_values(np.zeros(2), np.array([0, 2], dtype=np.int64), np.zeros(3))
    nonzero_entries(np.ones(2), np.array([2, 0], dtype=np.int64), np.zeros(2, dtype=np.int64),
                    np.zeros(2))
    sparse_scale(np.array([0, 2], dtype=np.int64), np.ones(2), np.ones(3), 2, 2.0, np.zeros(2))
    sparse_sum_squares(np.array([0, 2], dtype=np.int64), np.ones(2), np.zeros(3))
    leaf_observe(c, c.copy(), c.copy(), np.zeros(3), np.zeros(3),
                 np.array([0], dtype=np.int64), np.zeros(3), 1.0)
    neighbour_vote(dist, 2, 1, np.zeros((2, 2), dtype=np.float32), np.zeros(2), np.zeros(2))
    joint_record(proba, proba.copy(), proba.copy(), dist, dist.copy(), dist.copy(), dist.copy(),
                 dist.copy())
    # Label-set naive Bayes (dense input).
    lsc = np.ones(2)
    lsm = np.zeros((2, 3))
    label_set_add(np.zeros(3), half, np.zeros((2, 2)), 0, lsc, np.zeros(2), lsm, lsm.copy(),
                  np.zeros(3), np.zeros(3), 1.0, True, lsm.copy(), np.zeros(2))
    label_set_decode(np.zeros(3), np.zeros(3), np.zeros(2), lsm, np.zeros(3), lsm.copy(),
                     np.zeros(2), 2, np.zeros((2, 2)), 1, 0.3, coef, inter, chain, True,
                     np.zeros(2), np.zeros((2, 2)), np.zeros(2), np.zeros(2), half.copy())
    set_choice_record(half, half, half, np.zeros((2, 3, 2)), np.zeros(2))
