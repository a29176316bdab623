"""A worker process over the slow test embedder: ``engram worker`` as cli/pipeline.py runs it
(signals stop it after the batch in hand), with an embedder a test can catch mid-batch.

    python -m tests.support.pipeline_worker DB [--delay S] [--log FILE] [--batch N] [--lease S]
                                               [--idle-exit S]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from tests.support.pipeline import SlowEmbedder

from engramdb import Memory
from engramdb.pipeline.worker import WorkerOptions


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--log", default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lease", type=float, default=120.0)
    parser.add_argument("--idle-exit", type=float, default=None)
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    options = WorkerOptions(batch=args.batch, lease_s=args.lease)
    embedder = SlowEmbedder(args.delay, args.log)
    with Memory(args.db, embedder=embedder, create=False, worker=options, close_timeout=0) as mem:
        print("working", flush=True)
        result = mem.pipeline.work(stop, idle_exit_s=args.idle_exit)
    print(f"done {result.done} failed {result.failed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
