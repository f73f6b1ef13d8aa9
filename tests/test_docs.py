"""Every ```python and ```bash block of README.md and docs/*.md runs as written.

Convention (also in docs/index.md):

- the blocks of one page run in order, the Python ones in ONE namespace (``__name__`` is
  ``"__main__"``), in a fresh temporary working directory shared by the page's bash blocks;
- bash blocks run with ``bash -eo pipefail`` and the running interpreter's ``bin`` folder first
  on PATH (so ``boostkit ...`` is the command of this install);
- the line ``<!-- docs-test: skip (reason) -->`` right before a block keeps it from running
  (the reason is required); ``<!-- docs-test: slow -->`` marks a block that takes more than
  about 20 s. The default run executes a page up to its first slow block; ``-m slow`` runs the
  whole page. So put slow blocks last on a page.
- ```text (or a bare fence) is for output listings and is never run; ``py``, ``sh``, ``shell``,
  ``console`` and ``pycon`` fences are refused, since they would silently escape this test.

A failure names the page, the block's first line and the exception or the command's output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import traceback
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

_RUN = ("python", "bash")
_REFUSED = ("py", "python3", "pycon", "sh", "shell", "console", "zsh")
_MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<kind>\w+)\s*(?:\((?P<reason>[^)]*)\))?\s*-->")
_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")


class Block(NamedTuple):
    page: Path
    line: int  # 1-based line of the block's first code line
    language: str
    source: str
    mode: str  # "run", "skip" or "slow"

    @property
    def where(self):
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"


def extract_blocks(page):
    """The fenced blocks of a page with their language, first code line and docs-test mode."""
    lines = Path(page).read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        language = opening["lang"].lower()
        start = i + 1
        end = start
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        if end == len(lines):
            raise ValueError(f"{page}:{i + 1}: the ```{language} block is never closed")
        if language in _REFUSED:
            raise ValueError(f"{page}:{i + 1}: ```{language} blocks are not checked; use "
                             f"```python, ```bash, or ```text for output")
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = _MARKER.search(previous)
        mode = "run"
        if marker is not None:
            mode = marker["kind"]
            if mode not in ("skip", "slow"):
                raise ValueError(f"{page}:{i}: unknown docs-test marker {mode!r}; use "
                                 f"'skip (reason)' or 'slow'")
            if mode == "skip" and not (marker["reason"] or "").strip():
                raise ValueError(f"{page}:{i}: docs-test: skip needs a reason in parentheses")
        if language in _RUN:
            blocks.append(Block(Path(page), start + 1, language, "\n".join(lines[start:end]),
                                mode))
        i = end + 1
    return blocks


def _run_python(block, namespace):
    # blank lines in front: tracebacks give the line numbers of the page itself
    code = compile("\n" * (block.line - 1) + block.source, str(block.page), "exec")
    try:
        exec(code, namespace)
    except Exception as error:  # reported below with the page's line numbers
        # from the block's own frame on: the test's frames say nothing about the page
        frames = "".join(traceback.format_exception(type(error), error,
                                                    error.__traceback__.tb_next))
    else:
        return
    pytest.fail(f"{block.where}: the python block raised\n{frames}", pytrace=False)


def _run_bash(block, cwd):
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("MPLBACKEND", "Agg")
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", block.source], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"{block.where}: the bash block exited with {result.returncode}\n"
                    f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}",
                    pytrace=False)


def _pages(slow):
    params = []
    for page in PAGES:
        blocks = extract_blocks(page)
        has_slow = any(b.mode == "slow" for b in blocks)
        if slow and has_slow:
            params.append(pytest.param(page, id=page.name, marks=pytest.mark.slow))
        elif not slow and any(b.mode == "run" for b in blocks):
            params.append(pytest.param(page, id=page.name))
    return params


def _run_page(page, tmp_path, monkeypatch, include_slow):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__"}
    for block in extract_blocks(page):
        if block.mode == "skip":
            continue
        if block.mode == "slow" and not include_slow:
            break  # later blocks may need what the slow one made: they run with -m slow
        if block.language == "python":
            _run_python(block, namespace)
        else:
            _run_bash(block, tmp_path)


@pytest.mark.parametrize("page", _pages(slow=False))
def test_docs_page_runs(page, tmp_path, monkeypatch):
    _run_page(page, tmp_path, monkeypatch, include_slow=False)


@pytest.mark.parametrize("page", _pages(slow=True))
def test_docs_page_runs_with_slow_blocks(page, tmp_path, monkeypatch):
    _run_page(page, tmp_path, monkeypatch, include_slow=True)


def test_extraction_reads_markers_and_line_numbers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\nx = 1\n```\n\n<!-- docs-test: skip (needs a GPU) -->\n"
                    "```bash\nmake demo\n```\n<!-- docs-test: slow -->\n\n```python\ny = x\n"
                    "```\n```text\nout\n```\n```\nbare\n```\n", encoding="utf-8")
    blocks = extract_blocks(page)
    assert [(b.line, b.language, b.source, b.mode) for b in blocks] == [
        (4, "python", "x = 1", "run"), (9, "bash", "make demo", "skip"),
        (14, "python", "y = x", "slow")]


@pytest.mark.parametrize("text, message", [
    ("<!-- docs-test: skip -->\n```python\nx = 1\n```\n", "needs a reason"),
    ("<!-- docs-test: later -->\n```python\nx = 1\n```\n", "unknown docs-test marker"),
    ("```py\nx = 1\n```\n", "are not checked"),
    ("```python\nx = 1\n", "never closed"),
])
def test_extraction_refuses_what_would_escape_the_check(tmp_path, text, message):
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        extract_blocks(page)


def test_a_failing_block_names_its_page_and_line(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\n\n```python\nundefined_name\n```\n",
                    encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"page.md:6: the python block raised"):
        _run_page(page, tmp_path, monkeypatch, include_slow=False)
    page.write_text("```bash\nfalse\n```\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"page.md:2: the bash block exited"):
        _run_page(page, tmp_path, monkeypatch, include_slow=False)
