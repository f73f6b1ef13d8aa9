"""``python -m boostkit ...``: the same command line as the ``boostkit`` script."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
