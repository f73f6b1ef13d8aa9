"""Optional dependencies: one import path and one install hint for each extra."""

import importlib


def import_optional(module, extra, feature):
    """Import ``module``, or raise an ImportError saying which extra installs it.

    Parameters
    ----------
    module : str
        The module to import (e.g. ``"gymnasium"``).
    extra : str
        The boostkit extra that installs it (``"rl"``, ``"catboost"``, ``"dask"``, ``"plot"``).
    feature : str
        What needs it, for the message (e.g. ``"boostkit.rl"``).

    Examples
    --------
    >>> import_optional("json", "plot", "the example").__name__
    'json'
    >>> import_optional("no_such_module_here", "plot", "the example")
    Traceback (most recent call last):
    ...
    ImportError: the example needs no_such_module_here, which is not installed: pip install "boostkit[plot]" (or pip install no_such_module_here)
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        raise ImportError(f'{feature} needs {top}, which is not installed: pip install '
                          f'"boostkit[{extra}]" (or pip install {top})') from error
