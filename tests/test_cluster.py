"""The same batch over processes and over a Dask cluster (issue 13), on both engines.

A tape pickles, and so does its batched view: split the points into chunks, replay each
chunk in another process, and the results are the single-process run's, bit for bit.
The Dask test needs the optional extra ``pip install 'cyautodiff[dask]'``.
"""
import concurrent.futures
import functools
import multiprocessing
import sys

import numpy as np
import pytest


def tutorial(a, b):
    return (a / b - a) * (b / a + a + b) * (a - b)


def value_and_grads(batched, a, b):
    """One chunk of points -> an (n, 3) block: value, d/da, d/db."""
    values, (da, db) = batched.value_and_grad(a, b)
    return np.stack([values, da, db], axis=1)


def points(n):
    rng = np.random.default_rng(42)
    return rng.uniform(0.5, 4.0, n), rng.uniform(0.5, 4.0, n)


def test_a_batch_split_over_processes_is_the_one_process_batch(ad):
    tape = ad.record(tutorial, 230.3, 33.2, argnums=(0, 1))
    batched = tape.vmap()
    a, b = points(3000)
    want = value_and_grads(batched, a, b)
    chunks = [(a[i:i + 700], b[i:i + 700]) for i in range(0, len(a), 700)]
    context = multiprocessing.get_context("spawn")     # a fresh interpreter per worker
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        parts = list(pool.map(functools.partial(value_and_grads, batched),
                              *zip(*chunks)))
    got = np.concatenate(parts)
    assert got.shape == (3000, 3)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))


@pytest.fixture(scope="module")
def dask_client():
    """A LocalCluster of two worker processes, one thread each, shared by this module."""
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    cloudpickle = pytest.importorskip("cloudpickle")
    # The workers need not import this test module: ship its functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        yield client
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_a_batch_on_a_dask_cluster_is_the_one_process_batch(ad, dask_client):
    import dask.array as da
    tape = ad.record(tutorial, 230.3, 33.2, argnums=(0, 1))
    batched = tape.vmap()
    a, b = points(4000)
    want = value_and_grads(batched, a, b)
    A = da.from_array(a, chunks=1000)
    B = da.from_array(b, chunks=1000)
    blocks = da.map_blocks(functools.partial(value_and_grads, batched), A, B,
                           new_axis=1, chunks=(A.chunks[0], (3,)), dtype=np.float64)
    got = blocks.compute()          # the client is the default scheduler while it is open
    assert len(dask_client.run(lambda: 1)) == 2         # two worker processes
    assert got.shape == (4000, 3)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
