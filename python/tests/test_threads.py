"""One model shared by several Python threads: identical results, and the GIL released while
the library computes."""
import os
import threading
import time

import numpy as np
import pytest

import oclip
from conftest import fix

HELDOUT = sorted(os.path.join(fix("default", "heldout"), f)
                 for f in os.listdir(fix("default", "heldout")))[:16]


def test_threads_share_one_model():
    model, _, pre = oclip.create_model_and_transforms(None, threads=2)
    tok = oclip.get_tokenizer()
    px = pre.batch(HELDOUT)
    texts = ["a red circle", "a blue square", "a green star"] * 3
    want_img = model.encode_image(px, normalize=True)
    want_txt = model.encode_text(tok(texts), normalize=True)
    want_files = model.encode_image(HELDOUT[:4])
    results, errors = [], []

    def work(k):
        try:
            for i in range(4):
                # each thread a different mix and order of calls on the same handle
                if (k + i) % 3 == 0:
                    results.append(("img", model.encode_image(px, normalize=True)))
                elif (k + i) % 3 == 1:
                    results.append(("txt", model.encode_text(tok(texts), normalize=True)))
                else:
                    results.append(("files", model.encode_image(HELDOUT[:4])))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 24
    want = {"img": want_img, "txt": want_txt, "files": want_files}
    for kind, r in results:
        np.testing.assert_array_equal(r, want[kind])  # bit-identical


def test_thread_counts_give_the_same_bytes():
    a = oclip.create_model(threads=1)
    b = oclip.create_model(threads=3)
    assert (a.threads, b.threads) == (1, 3)
    np.testing.assert_array_equal(a.encode_image(HELDOUT[:4]), b.encode_image(HELDOUT[:4]))


def test_gil_is_released_while_encoding():
    """A Python thread keeps running while another one waits in encode_image: with the GIL held
    for the whole call it could not count at all during it."""
    model, _, pre = oclip.create_model_and_transforms(None, threads=1)
    px = np.repeat(pre.batch(HELDOUT[:1]), 256, axis=0)
    model.encode_image(px[:1])  # packs the weights first
    counts = []
    done = threading.Event()

    def encode():
        t0 = time.perf_counter()
        model.encode_image(px)
        counts.append(time.perf_counter() - t0)
        done.set()

    n = 0
    th = threading.Thread(target=encode)
    th.start()
    time.sleep(0.001)
    while not done.is_set():
        n += 1
    th.join()
    # the encode took some time (tens of ms); the counter ran during it
    assert counts[0] > 0.005
    assert n > 1000, "the main thread counted %d times in %.3f s" % (n, counts[0])


def test_set_threads_after_load():
    m = oclip.create_model(threads=1)
    assert m.threads == 1
    assert m.set_threads(3) == 3 and m.threads == 3
    m.threads = 2
    assert m.threads == 2 and "2 threads" in repr(m)
    assert m.set_threads(0) == m.threads >= 1  # 0: all online cores
    with pytest.raises(oclip.ArgumentError) as ei:
        m.set_threads(-1)
    assert "-1 threads" in ei.value.message
    with pytest.raises(TypeError):
        m.threads = 1.5
    with pytest.raises(TypeError):
        m.threads = True
    m.threads = np.int64(1)  # any integer type
    assert m.threads == 1


def test_set_threads_while_other_threads_encode():
    """The count changes under running calls (oclip_model_set_threads is safe then): every
    result keeps the bytes of a one-thread model."""
    model, _, pre = oclip.create_model_and_transforms(None, threads=1)
    tok = oclip.get_tokenizer()
    px = pre.batch(HELDOUT[:8])
    toks = tok(["a red circle", "a blue square", "a green star", "two dots"])
    want_img, want_txt = model.encode_image(px), model.encode_text(toks)
    stop = threading.Event()
    results, errors = [], []

    def work(k):
        try:
            while not stop.is_set():
                if k % 2:
                    results.append(("img", model.encode_image(px)))
                else:
                    results.append(("txt", model.encode_text(toks)))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in workers:
        t.start()
    seen = set()
    try:
        for i in range(200):
            n = 1 + i % 4
            model.set_threads(n)
            seen.add(model.threads)
            time.sleep(0.001)
    finally:
        stop.set()
        for t in workers:
            t.join()
    assert not errors, errors
    assert seen == {1, 2, 3, 4} and len(results) >= 8
    for kind, r in results:
        np.testing.assert_array_equal(r, want_img if kind == "img" else want_txt)
