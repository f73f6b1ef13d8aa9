"""Writing a benchmark's section of benchmarks/RESULTS.md (no dependencies beyond the stdlib)."""

import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(section, text):
    """Put ``text`` between ``<!-- BEGIN section -->`` and ``<!-- END section -->``, replacing
    what was there; a section not in the file yet is appended."""
    begin, end = f"<!-- BEGIN {section} -->", f"<!-- END {section} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    current = RESULTS.read_text()
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(current)


def command_line(script, argv=None):
    """The command that ran ``script`` (a benchmark's ``__file__``) with ``argv`` (default: this
    process's arguments), as a RESULTS section quotes it: ``python benchmarks/NAME.py ARGS``."""
    return " ".join(["python", f"benchmarks/{Path(script).name}", *(argv or sys.argv[1:])])
