"""`pipelines.placement.Affinity`: model runs of one shape stick to the workers that compiled it, and spread to
another worker only when those are `slack` runs busier than the least loaded one."""

from pipelines.placement import Affinity

WORKERS = ["tcp://a", "tcp://b", "tcp://c"]


def test_each_shape_sticks_to_its_worker_while_the_load_is_even():
    affinity = Affinity(slack=2)
    first = {shape: affinity.choose(shape, WORKERS) for shape in [("m", 64), ("m", 128), ("m", 192)]}
    assert sorted(first.values()) == WORKERS  # three shapes, three workers
    for shape, worker in first.items():
        assert affinity.choose(shape, WORKERS) == worker  # one more run each: still even, still sticky
    assert affinity.choose(("other_model", 64), WORKERS) in WORKERS


def test_a_common_shape_spreads_over_the_workers_as_they_fill():
    affinity = Affinity(slack=2)
    chosen = [affinity.choose(("m", 320), WORKERS) for _ in range(12)]
    assert set(chosen) == set(WORKERS)  # one length for the whole batch still uses every worker
    assert max(chosen.count(w) for w in WORKERS) - min(chosen.count(w) for w in WORKERS) <= 3
    assert chosen[:3] == [chosen[0]] * 3  # but only after the first worker is `slack` runs ahead


def test_released_runs_free_the_worker_and_absent_workers_are_not_chosen():
    affinity = Affinity(slack=0)
    worker = affinity.choose(("m", 64), WORKERS)
    affinity.release(worker)
    assert affinity.choose(("m", 64), WORKERS) == worker  # idle again: the shape stays where it compiled
    others = [w for w in WORKERS if w != worker]
    assert affinity.choose(("m", 64), others) in others  # its worker left the cluster
    assert affinity.choose(("m", 64), []) is None  # no worker yet (jobs queued): Dask places it later


def test_one_model_run_at_a_time_per_process():
    """`ModelCache.exclusive`: model runs of several threads of one worker never overlap (outside a worker the
    waiting thread simply blocks)."""
    import threading
    import time

    from pipelines.tasks import ModelCache

    cache, inside, overlaps = ModelCache(), [], []

    def run():
        with cache.exclusive():
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.05)
            inside.pop()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [1, 1, 1, 1]
