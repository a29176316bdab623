"""Prometheus text format, kept in process: request counts and latency per route, the
pipeline's queue per open tenant. Nothing is sent anywhere; ``/metrics`` is scraped."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._sum: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._count[(method, route, status)] += 1
            buckets = self._buckets.setdefault((method, route), [0] * (len(BUCKETS) + 1))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            buckets[-1] += 1
            self._sum[(method, route)] += seconds

    def render(self, gauges: Iterable[tuple[str, str, dict[str, str], float]] = ()) -> str:
        lines = ["# HELP engram_http_requests_total HTTP requests by route and status.",
                 "# TYPE engram_http_requests_total counter"]
        with self._lock:
            for (method, route, status), n in sorted(self._count.items()):
                lines.append(f'engram_http_requests_total{{method="{method}",route="{_label(route)}",'
                             f'status="{status}"}} {n}')
            lines += ["# HELP engram_http_request_seconds HTTP request latency by route.",
                      "# TYPE engram_http_request_seconds histogram"]
            for (method, route), buckets in sorted(self._buckets.items()):
                base = f'method="{method}",route="{_label(route)}"'
                for bound, n in zip((*map(str, BUCKETS), "+Inf"), buckets, strict=True):
                    lines.append(f'engram_http_request_seconds_bucket{{{base},le="{bound}"}} {n}')
                lines.append(f"engram_http_request_seconds_sum{{{base}}} {self._sum[(method, route)]:.6f}")
                lines.append(f"engram_http_request_seconds_count{{{base}}} {buckets[-1]}")
        seen: set[str] = set()
        for name, help_text, labels, value in gauges:
            if name not in seen:
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
                seen.add(name)
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{text}}} {value}")
        return "\n".join(lines) + "\n"
