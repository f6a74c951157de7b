"""overlayscope/digest.py: the built-in SHA-256 gives OpenSSL's digests, and reading a
Docker root (image configs, chain ids, the scan cache) loads no OpenSSL."""

from __future__ import annotations

import hashlib
import random

import pytest

from overlayscope import digest


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 4096, 100_003, digest.LARGE + 1])
def test_the_same_digest_as_openssl(size: int) -> None:
    data = random.Random(size).randbytes(size)
    want = hashlib.sha256(data)
    for made in (digest.sha256(data), digest.large_sha256(data)):
        assert made.hexdigest() == want.hexdigest() and made.digest() == want.digest()
    fed = digest.sha256()
    for at in range(0, size, 1000):
        fed.update(memoryview(data)[at : at + 1000])
    assert fed.hexdigest() == want.hexdigest()


def test_small_inputs_need_no_openssl() -> None:
    assert digest._builtin is not None  # CPython's own module, here
    assert type(digest.sha256(b"x")).__module__ != "_hashlib"
