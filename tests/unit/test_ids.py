"""ULID-style ids: 26 Crockford base32 characters, unique, sortable by creation."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from engramdb.core.ids import new_id

CROCKFORD = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def test_shape():
    for _ in range(100):
        assert CROCKFORD.match(new_id())


def test_unique_and_sorted_in_generation_order():
    ids = [new_id() for _ in range(20_000)]  # many share a millisecond
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_time_prefix_orders_across_milliseconds():
    a = new_id()
    time.sleep(0.003)
    b = new_id()
    assert a[:10] < b[:10]  # the first 10 chars are the 48-bit millisecond time


def test_time_prefix_is_the_clock():
    before = time.time_ns() // 1_000_000
    ms = 0
    for ch in new_id()[:10]:
        ms = ms * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(ch)
    after = time.time_ns() // 1_000_000
    assert before <= ms <= after


def test_unique_across_processes():
    code = "from engramdb.core.ids import new_id\nprint('\\n'.join(new_id() for _ in range(2000)))"
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    ids = [line for out in outs for line in out.split()]
    assert len(ids) == 4000 and len(set(ids)) == 4000
