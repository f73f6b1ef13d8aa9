"""A training logger with Stable-Baselines3's interface: ``record`` values, ``dump`` them.

Outputs: ``"csv"`` (``progress.csv``, one row per dump; a new key rewrites the header),
``"tensorboard"`` (scalars through ``torch.utils.tensorboard`` or ``tensorboardX``, whichever is
installed) and ``"stdout"``. Without outputs the logger only keeps the last dumped values.

The agents record, per training iteration: ``rollout/ep_rew_mean``, ``rollout/ep_len_mean``
(last 100 episodes), ``time/total_timesteps``, ``time/fps``, ``train/n_trees`` and, when the
logger writes somewhere, the loss terms ``train/policy_loss``, ``train/value_loss``,
``train/entropy`` (and PPO's ``train/approx_kl``, ``train/clip_fraction``) on the rollout.

Examples
--------
>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> log = Logger(folder, ["csv"])
>>> log.record("rollout/ep_rew_mean", 9.5); log.dump(step=100)
>>> open(os.path.join(folder, "progress.csv")).read().splitlines()
['rollout/ep_rew_mean,time/step', '9.5,100']
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections import defaultdict

__all__ = ["Logger", "configure_logger"]

FORMATS = ("csv", "tensorboard", "stdout")


def _summary_writer(folder):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError("TensorBoard logging needs tensorboardX (or torch with "
                              "tensorboard): pip install \"boostkit[tensorboard]\"") from None
    return SummaryWriter(log_dir=folder)


class Logger:
    """Key/value logger (``record`` / ``record_mean`` / ``dump``) writing CSV, TensorBoard, stdout.

    Parameters
    ----------
    folder : str or path-like, optional
        Where output files go (created). Needed for "csv" and "tensorboard".
    formats : sequence of {"csv", "tensorboard", "stdout"}, default=()

    Attributes
    ----------
    name_to_value : dict
        Values recorded since the last dump.
    last_dump : dict
        Values of the last dump.
    """

    def __init__(self, folder=None, formats=()):
        formats = [formats] if isinstance(formats, str) else list(formats)
        bad = [f for f in formats if f not in FORMATS]
        if bad:
            raise ValueError(f"formats must be among {FORMATS}; got {bad}")
        if folder is None and any(f != "stdout" for f in formats):
            raise ValueError(f"formats {formats} write files: give a folder")
        self.folder = None if folder is None else os.fspath(folder)
        self.formats = formats
        if self.folder is not None:
            os.makedirs(self.folder, exist_ok=True)
        self.name_to_value = {}
        self._means = defaultdict(list)
        self.last_dump = {}
        self._rows = []
        self._keys = []
        self._writer = _summary_writer(self.folder) if "tensorboard" in formats else None

    @property
    def writes(self):
        """True when dumps go somewhere (the agents compute loss terms only then)."""
        return bool(self.formats)

    def get_dir(self):
        """The output folder (None without one)."""
        return self.folder

    def record(self, key, value, exclude=None):
        """Set ``key`` to ``value`` for the next dump (``exclude`` accepted for SB3 callers)."""
        self.name_to_value[key] = value

    def record_mean(self, key, value, exclude=None):
        """Add ``value`` to the values of ``key`` averaged at the next dump."""
        self._means[key].append(value)

    def dump(self, step=0):
        """Write the recorded values at ``step`` and clear them."""
        values = dict(self.name_to_value)
        for key, vals in self._means.items():
            values[key] = sum(vals) / len(vals)
        values = {k: v for k, v in values.items() if _is_scalar(v)}
        self.name_to_value = {}
        self._means = defaultdict(list)
        self.last_dump = dict(values, **{"time/step": step})
        if "csv" in self.formats:
            self._write_csv(self.last_dump)
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(key, float(value), step)
            self._writer.flush()
        if "stdout" in self.formats:
            width = max((len(k) for k in self.last_dump), default=0)
            lines = [f"| {k:<{width}} | {_fmt(v):>12} |" for k, v in sorted(self.last_dump.items())]
            print("\n".join(lines), file=sys.stdout)

    def _write_csv(self, row):
        self._rows.append(row)
        path = os.path.join(self.folder, "progress.csv")
        new_keys = [k for k in sorted(row) if k not in self._keys]
        if new_keys:
            self._keys = self._keys + new_keys
            rows, mode = self._rows, "w"
        else:
            rows, mode = [row], "a"
        with open(path, mode, newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self._keys, restval="")
            if mode == "w":
                writer.writeheader()
            writer.writerows(rows)

    def close(self):
        """Close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_writer"] = None
        state["_means"] = dict(self._means)
        return state

    def __setstate__(self, state):
        state["_means"] = defaultdict(list, state["_means"])
        self.__dict__.update(state)
        if "tensorboard" in self.formats and self.folder is not None:
            self._writer = _summary_writer(self.folder)


def _is_scalar(v):
    try:
        return isinstance(float(v), float)
    except (TypeError, ValueError):
        return False


def _fmt(v):
    v = float(v)
    if math.isnan(v) or v == int(v) and abs(v) < 1e12:
        return f"{v:.0f}" if not math.isnan(v) else "nan"
    return f"{v:.4g}"


def configure_logger(folder=None, formats=("csv",)):
    """A :class:`Logger` (SB3's ``configure``); pass it to ``agent.set_logger``.

    Examples
    --------
    >>> configure_logger(None, ["stdout"]).formats
    ['stdout']
    """
    return Logger(folder, formats)
