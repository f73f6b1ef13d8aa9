"""Training callbacks with Stable-Baselines3's hooks.

``learn(callback=...)`` accepts a :class:`BaseCallback` (ours, or Stable-Baselines3's: the hooks
are called the same way, so SB3's ``EvalCallback``, ``CheckpointCallback``,
``StopTrainingOnMaxEpisodes`` ... run unchanged), a list of them, or a plain callable
``f(agent)`` called after every training iteration (returning False stops training).

The hooks, in order: ``_on_training_start``; per rollout ``_on_rollout_start``, ``_on_step``
after every vector step (returning False stops training), ``_on_rollout_end``; then
``_on_training_end``. ``self.locals`` holds the current step's ``new_obs``, ``rewards``,
``dones``, ``infos``, ``actions``, and ``total_timesteps``.

Examples
--------
>>> from boostkit.rl import PPO
>>> class StopAt(BaseCallback):
...     def _on_step(self):
...         return self.num_timesteps < 64
>>> agent = PPO("CartPole-v1", n_envs=2, n_steps=16, seed=0).learn(1_000, callback=StopAt())
>>> agent.num_timesteps
64
"""

from __future__ import annotations

__all__ = ["BaseCallback", "CallbackList", "FunctionCallback", "as_callback"]


class BaseCallback:
    """Base class of training callbacks (the hooks and attributes of SB3's ``BaseCallback``).

    Parameters
    ----------
    verbose : int, default=0

    Attributes
    ----------
    model : the agent being trained
    training_env : its vector environment
    logger : its logger
    n_calls : int
        Number of ``on_step`` calls so far.
    num_timesteps : int
        The agent's ``num_timesteps`` at the last hook.
    locals : dict
        The training loop's current values (see the module docstring).
    """

    def __init__(self, verbose=0):
        self.verbose = verbose
        self.model = None
        self.training_env = None
        self.logger = None
        self.n_calls = 0
        self.num_timesteps = 0
        self.locals = {}
        self.globals = {}
        self.parent = None

    # the public hooks the agent calls
    def init_callback(self, model):
        self.model = model
        self.training_env = model.get_env()
        self.logger = model.logger
        self._init_callback()

    def on_training_start(self, locals_, globals_):
        self.locals = locals_
        self.globals = globals_
        self.num_timesteps = self.model.num_timesteps
        self._on_training_start()

    def on_rollout_start(self):
        self._on_rollout_start()

    def on_step(self):
        self.n_calls += 1
        self.num_timesteps = self.model.num_timesteps
        return self._on_step()

    def on_rollout_end(self):
        self._on_rollout_end()

    def on_training_end(self):
        self._on_training_end()

    def update_locals(self, locals_):
        self.locals.update(locals_)
        self.update_child_locals(locals_)

    def update_child_locals(self, locals_):
        pass

    # the hooks subclasses override
    def _init_callback(self):
        pass

    def _on_training_start(self):
        pass

    def _on_rollout_start(self):
        pass

    def _on_step(self):
        return True

    def _on_rollout_end(self):
        pass

    def _on_training_end(self):
        pass


class CallbackList(BaseCallback):
    """Several callbacks in order; training stops when any ``on_step`` returns False.

    Examples
    --------
    >>> CallbackList([BaseCallback(), BaseCallback()]).callbacks[0].n_calls
    0
    """

    def __init__(self, callbacks):
        super().__init__()
        self.callbacks = list(callbacks)

    def _init_callback(self):
        for cb in self.callbacks:
            cb.init_callback(self.model)

    def _on_training_start(self):
        for cb in self.callbacks:
            cb.on_training_start(self.locals, self.globals)

    def _on_rollout_start(self):
        for cb in self.callbacks:
            cb.on_rollout_start()

    def _on_step(self):
        go_on = True
        for cb in self.callbacks:
            go_on = (cb.on_step() is not False) and go_on
        return go_on

    def _on_rollout_end(self):
        for cb in self.callbacks:
            cb.on_rollout_end()

    def _on_training_end(self):
        for cb in self.callbacks:
            cb.on_training_end()

    def update_child_locals(self, locals_):
        for cb in self.callbacks:
            cb.update_locals(locals_)


class FunctionCallback(BaseCallback):
    """A plain callable ``f(agent)`` run after every training iteration (rollout + trees);
    returning False stops training.

    Examples
    --------
    >>> FunctionCallback(print).function is print
    True
    """

    def __init__(self, function):
        super().__init__()
        self.function = function
        self._stop = False

    def _on_training_start(self):
        self._stop = False

    def after_iteration(self):
        self._stop = self.function(self.model) is False
        return not self._stop

    def _on_step(self):
        return not self._stop


def _is_callback(obj):
    return all(callable(getattr(obj, hook, None)) for hook in
               ("init_callback", "on_training_start", "on_rollout_start", "on_step",
                "on_rollout_end", "on_training_end"))


def as_callback(callback):
    """One callback object for what ``learn(callback=...)`` accepts.

    Examples
    --------
    >>> type(as_callback([lambda agent: None, BaseCallback()])).__name__
    'CallbackList'
    >>> as_callback(3)
    Traceback (most recent call last):
    ...
    ValueError: callback must be None, a BaseCallback (ours or Stable-Baselines3's), a list of them, or a callable f(agent); got 3
    """
    if callback is None:
        return CallbackList([])
    if isinstance(callback, (list, tuple)):
        return CallbackList([as_callback(cb) for cb in callback])
    if _is_callback(callback):
        return callback
    if callable(callback):
        return FunctionCallback(callback)
    raise ValueError("callback must be None, a BaseCallback (ours or Stable-Baselines3's), a "
                     f"list of them, or a callable f(agent); got {callback!r}")


def function_callbacks(callback):
    """The :class:`FunctionCallback` objects inside ``callback`` (run after each iteration)."""
    if isinstance(callback, FunctionCallback):
        return [callback]
    if isinstance(callback, CallbackList):
        return [f for cb in callback.callbacks for f in function_callbacks(cb)]
    return []
