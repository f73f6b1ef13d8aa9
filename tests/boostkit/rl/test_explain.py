"""Explanations: the shap export computes the head's outputs; shap's attributions add up."""

import gymnasium as gym
import numpy as np
import pytest

from boostkit.rl import PPO
from boostkit.rl.explain import feature_importances, shap_model


def _dict_predict(model, X):
    """Naive traversal of shap's tree-dict format: ``x <= threshold`` goes left."""
    out = np.zeros((X.shape[0], model["trees"][0]["values"].shape[1]))
    for tree in model["trees"]:
        for i, x in enumerate(X):
            node = 0
            while tree["children_left"][node] >= 0:
                f = tree["features"][node]
                node = (tree["children_left"][node] if x[f] <= tree["thresholds"][node]
                        else tree["children_right"][node])
            out[i] += tree["values"][node]
    return out + model["base_offset"]


def _check_covers(tree):
    inner = tree["children_left"] >= 0
    w = tree["node_sample_weight"]
    kids = w[tree["children_left"][inner]] + w[tree["children_right"][inner]]
    np.testing.assert_allclose(w[inner], kids, rtol=1e-12)
    vals = tree["values"]
    mean = (w[tree["children_left"][inner], None] * vals[tree["children_left"][inner]]
            + w[tree["children_right"][inner], None] * vals[tree["children_right"][inner]])
    np.testing.assert_allclose(vals[inner], mean / kids[:, None], rtol=1e-9, atol=1e-12)


def _cartpole(**kw):
    agent = PPO("CartPole-v1", n_envs=4, n_steps=32, seed=0, **kw).learn(512)
    X = agent.policy.features(np.random.default_rng(0).normal(size=(150, 4)))
    return agent, X


def _objectgrid():
    agent = PPO("boostkit/ObjectGrid-v0", n_envs=4, n_steps=32, seed=0).learn(512)
    env = gym.make("boostkit/ObjectGrid-v0")
    obs = np.stack([env.reset(seed=s)[0] for s in range(80)])
    return agent, agent.policy.features(obs)


CASES = {
    "oblivious-shared": lambda: _cartpole(),
    "greedy": lambda: _cartpole(grow_policy="greedy"),
    "separate-trees": lambda: _cartpole(shared_tree=False),
    "categorical": _objectgrid,
    "categorical-greedy": lambda: _objectgrid_greedy(),
}


def _objectgrid_greedy():
    agent = PPO("boostkit/ObjectGrid-v0", n_envs=4, n_steps=32, grow_policy="greedy",
                seed=0).learn(512)
    env = gym.make("boostkit/ObjectGrid-v0")
    return agent, agent.policy.features(np.stack([env.reset(seed=s)[0] for s in range(80)]))


@pytest.fixture(scope="module", params=sorted(CASES))
def trained(request):
    return CASES[request.param]()


def test_export_computes_each_head(trained):
    agent, X = trained
    pi, v = agent.policy.forward(X, use_cache=False)
    policy = shap_model(agent, X)
    np.testing.assert_allclose(_dict_predict(policy, X), pi, atol=1e-10)
    value = shap_model(agent, X, head="value")
    np.testing.assert_allclose(_dict_predict(value, X)[:, 0], v, atol=1e-10)
    one = shap_model(agent, X, outputs=[1])
    np.testing.assert_allclose(_dict_predict(one, X)[:, 0], pi[:, 1], atol=1e-10)
    for tree in policy["trees"][:50] + value["trees"][:50]:
        _check_covers(tree)
    if agent.policy.obs_encoder.categorical.any():
        assert agent.policy.trees.to_arrays()["is_cat"].any()


def test_shap_attributions_add_up_to_the_head_output(trained):
    shap = pytest.importorskip("shap")
    agent, X = trained
    pi, v = agent.policy.forward(X, use_cache=False)
    for head, target in (("policy", pi), ("value", v[:, None])):
        explainer = shap.TreeExplainer(shap_model(agent, X, head=head))
        phi = np.asarray(explainer.shap_values(X, check_additivity=False))
        phi = phi.reshape(X.shape[0], X.shape[1], -1)
        total = phi.sum(axis=1) + np.reshape(explainer.expected_value, (1, -1))
        np.testing.assert_allclose(total, target, atol=1e-9)
    # with background data (interventional TreeSHAP: float32 inside shap)
    explainer = shap.TreeExplainer(shap_model(agent, X, outputs=0), data=X[:40],
                                   feature_perturbation="interventional")
    phi = np.asarray(explainer.shap_values(X[:30], check_additivity=False))
    np.testing.assert_allclose(phi.sum(axis=1) + explainer.expected_value, pi[:30, 0],
                               atol=1e-5)


def test_shap_values_equal_brute_force_shapley_on_one_tree():
    shap = pytest.importorskip("shap")
    import itertools
    from math import factorial

    agent, X = _objectgrid_greedy()
    model = shap_model(agent, X, head="value")
    tree = model["trees"][-1]
    one = dict(model, trees=[tree], base_offset=0.0)

    def cond_expectation(x, S, node=0):  # shap's path-dependent E[f | x_S]
        if tree["children_left"][node] < 0:
            return tree["values"][node, 0]
        f, lc, rc = tree["features"][node], tree["children_left"][node], tree["children_right"][node]
        if f in S:
            return cond_expectation(x, S, lc if x[f] <= tree["thresholds"][node] else rc)
        w = tree["node_sample_weight"]
        return (w[lc] * cond_expectation(x, S, lc) + w[rc] * cond_expectation(x, S, rc)) / w[node]

    d = X.shape[1]
    phi = np.asarray(shap.TreeExplainer(one).shap_values(X[:3])).reshape(3, d)
    for r in range(3):
        x = X[r]
        for i in range(d):
            others = [j for j in range(d) if j != i]
            want = 0.0
            for k in range(d):
                for S in itertools.combinations(others, k):
                    weight = factorial(k) * factorial(d - k - 1) / factorial(d)
                    want += weight * (cond_expectation(x, set(S) | {i})
                                      - cond_expectation(x, set(S)))
            assert abs(phi[r, i] - want) < 1e-9


@pytest.mark.parametrize("grow_policy", ["greedy", "oblivious"])
def test_gain_importances_decompose_output_variance(grow_policy):
    agent, X = _cartpole(grow_policy=grow_policy)
    from boostkit.rl.explain import _TreeView, _gain

    trees = agent.policy.trees
    arrays = trees.to_arrays()
    cols = np.arange(agent.policy.n_policy_outputs)
    raw = np.zeros(X.shape[1])
    expected = 0.0
    for t in range(trees.n_trees_):
        view = _TreeView(arrays, t, cols)
        _gain(view, view.root(), X, np.arange(X.shape[0]), raw)
        out = np.zeros((X.shape[0], trees.n_outputs))
        trees._predict_range(X, t, t + 1, out)
        expected += X.shape[0] * out[:, cols].var(axis=0).sum()
    assert raw.sum() == pytest.approx(expected, rel=1e-9)
    imp = feature_importances(agent, X)
    np.testing.assert_allclose(imp, raw / raw.sum())
    split = feature_importances(agent, importance_type="split")
    np.testing.assert_allclose(split, trees.feature_importances())


def test_gain_importance_finds_the_only_informative_feature():
    import gymnasium.spaces as spaces

    from boostkit.rl.policy import ActorCriticTrees

    ac = ActorCriticTrees(spaces.Box(-1, 1, (3,)), spaces.Discrete(2), max_depth=2)
    X = np.random.default_rng(0).uniform(-1, 1, size=(300, 3))
    g = np.where(X[:, [2]] > 0.2, 1.0, -1.0) * np.array([[1.0, -1.0]])
    ac.update(X, g, np.zeros(300))
    imp = feature_importances(ac, X)
    assert imp[2] == pytest.approx(1.0)


def test_bad_arguments():
    agent, X = _cartpole()
    with pytest.raises(ValueError, match="head must be"):
        shap_model(agent, X, head="logits")
    with pytest.raises(ValueError, match="outputs must be"):
        shap_model(agent, X, outputs=5)
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        shap_model(agent, X[:, :3])
    with pytest.raises(ValueError, match="needs X"):
        feature_importances(agent)
