import numpy as np
import pytest


@pytest.fixture
def decoding_rows_scores():
    """A function that streams ``stream`` through ``model`` prequentially and, from instance
    ``start`` on, counts per decision row of ``rows`` (rows of ``MLHAT._rule_decisions``,
    before each instance is learnt) its label errors and exact label-set matches; ``check``,
    if given, is called with the model and the instance's decisions. Returns
    ``(errors, exact)``, one entry per row."""

    def scores(model, stream, rows, start=300, check=None):
        errors, exact = np.zeros(len(rows)), np.zeros(len(rows))
        for i, (x, y) in enumerate(stream):
            model.predict_one(x)
            if i >= start:
                decisions = model._last_rules[3][0]
                truth = np.array([y[label] for label in model.labels], dtype=float)
                for k, row in enumerate(rows):
                    wrong = np.count_nonzero((decisions[row] > 0.5) != (truth > 0.5))
                    errors[k] += wrong
                    exact[k] += wrong == 0
                if check is not None:
                    check(model, decisions)
            model.learn_one(x, y)
        return errors, exact

    return scores
