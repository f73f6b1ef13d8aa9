"""``boostkit warmup`` compiles every numba kernel of boostkit and streamml."""

import os
import subprocess
import sys
import textwrap

import pytest

from boostkit.cli import main

KERNEL_MODULES = ["boostkit.losses", "boostkit.trees._kernels", "boostkit.trees._grow_kernels",
                  "boostkit.influence._kernels", "boostkit.influence._leaf_kernels",
                  "boostkit.neural._kernels", "streamml.multilabel._kernels"]


def test_warmup_is_a_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["warmup", "--help"])
    assert exit_info.value.code == 0
    assert "Compile every numba kernel" in " ".join(capsys.readouterr().out.split())


@pytest.mark.slow
def test_warmup_compiles_every_kernel(tmp_path):
    # an empty cache: every kernel compiles, so a helper kernel called only from other kernels
    # gets its signature too; a kernel without one was never reached
    code = textwrap.dedent(f"""
        import importlib
        from numba.core.registry import CPUDispatcher
        from boostkit.warmup import warmup
        results = warmup(verbose=0)
        skipped = [name for name, value in results.items() if isinstance(value, str)]
        assert not skipped, skipped
        for name in {KERNEL_MODULES!r}:
            module = importlib.import_module(name)
            for attr, obj in vars(module).items():
                if (isinstance(obj, CPUDispatcher) and obj.__module__ == name
                        and not obj.signatures
                        and obj.targetoptions.get("inline") != "always"):
                    print("NOT COMPILED", name, attr)
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=3000)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NOT COMPILED" not in result.stdout, result.stdout
