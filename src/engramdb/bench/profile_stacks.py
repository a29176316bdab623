"""Where a search's time goes under load: py-spy samples a server process (no code change in
the server), and the stacks that pass through ``retrieval/search.py`` are summed by function."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

SEARCH_FRAME = "search (engramdb/retrieval/search.py"


class Sampler:
    def __init__(self, proc: subprocess.Popen[bytes] | None, out: Path, reason: str | None = None) -> None:
        self.proc = proc
        self.out = out
        self.reason = reason

    def result(self, top: int = 15) -> dict[str, Any]:
        if self.proc is None:
            return {"skipped": self.reason}
        self.proc.wait(timeout=120)
        stacks: Counter[str] = Counter()
        for line in self.out.read_text(encoding="utf-8", errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks[stack] += int(count)
        return summarise(stacks, top)


def summarise(stacks: Counter[str], top: int) -> dict[str, Any]:
    """Inclusive samples per function among the stacks inside a search."""
    total = sum(stacks.values())
    inside = {s: n for s, n in stacks.items() if SEARCH_FRAME in s}
    searched = sum(inside.values())
    per_function: Counter[str] = Counter()
    for stack, n in inside.items():
        frames = stack.split(";")
        first = next(i for i, f in enumerate(frames) if SEARCH_FRAME in f)
        for frame in set(frames[first:]):
            per_function[_short(frame)] += n
    return {"samples": total, "search_samples": searched,
            "functions": [{"function": f, "share_of_search": round(n / searched, 3)}
                          for f, n in per_function.most_common(top)] if searched else []}


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").split(":")[0]
    marker = "site-packages/"
    path = path.split(marker, 1)[1] if marker in path else path.split("/src/", 1)[-1]
    return f"{name} ({path})"


def profile_server(pid: int, seconds: float) -> Sampler:
    """Start py-spy on ``pid`` for up to 20 s of the phase (it runs beside the load)."""
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when it is not on PATH
    spy = str(beside) if beside.is_file() else shutil.which("py-spy")
    if spy is None:
        return Sampler(None, Path(), "py-spy is not installed (pip install py-spy)")
    out = Path(tempfile.mkdtemp(prefix="engram-profile-")) / "stacks.txt"
    duration = max(1, int(min(seconds - 2, 20)))
    proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(duration), "--rate", "200",
                             "--format", "raw", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Sampler(proc, out)
