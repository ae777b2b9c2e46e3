"""The tiny job in Python, for the peers measured beside ember.

    python3 tiny_peers.py plain|dask|pool JOBS

Prints microseconds per job (the mean over JOBS jobs after a warm-up).
plain: the same map x2 -> filter -> list, with Python's built-ins over 4 slices.
dask:  dask.bag.from_sequence(range(1000), npartitions=4) with the threaded scheduler.
pool:  multiprocessing.Pool(2).map of the job over the same 4 slices (the pool
       started once, before the timing, as process[2]'s master is).
"""
import sys
import time


def plain_job(values):
    out = []
    for i in range(4):
        part = values[i * 250:(i + 1) * 250]
        out.extend(filter(lambda x: x % 3 == 0, map(lambda x: x + 1, map(lambda x: x * 2, part))))
    return out


def slice_job(part):
    return list(filter(lambda x: x % 3 == 0, map(lambda x: x + 1, map(lambda x: x * 2, part))))


def main():
    kind, jobs = sys.argv[1], int(sys.argv[2])
    values = list(range(1000))
    if kind == "plain":
        job = lambda: plain_job(values)
    elif kind == "pool":
        import multiprocessing
        pool = multiprocessing.Pool(2)
        slices = [values[i * 250:(i + 1) * 250] for i in range(4)]

        def job():
            return [x for part in pool.map(slice_job, slices) for x in part]
    else:
        import dask.bag as db

        def job():
            bag = db.from_sequence(values, npartitions=4)
            return bag.map(lambda x: x * 2).map(lambda x: x + 1).filter(
                lambda x: x % 3 == 0).compute(scheduler="threads")
    for _ in range(max(1, jobs // 10)):
        assert len(job()) == 333
    t0 = time.perf_counter()
    for _ in range(jobs):
        job()
    print("%.3f" % ((time.perf_counter() - t0) / jobs * 1e6))


main()
