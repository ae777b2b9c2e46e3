"""HTTP benchmark helpers: time a command, run the Python peers, read answers.

  http_peers.py measure CMD...        run CMD; print "wall_s cpu_s rss_mb" (the
                                      child's user+system time and peak RSS)
  http_peers.py threads URLS N OUT    ThreadPoolExecutor(N) with requests
  http_peers.py aiohttp URLS N OUT    aiohttp, a semaphore of N, connector limit N
  http_peers.py tally INPUTS OUT      of an `ember http` output: "delivered ok sent lost"
  http_peers.py tally_codes OUT       of a peer's output (one status a line): "delivered ok"
"""
import json
import resource
import subprocess
import sys
import time


def measure(cmd):
    t0 = time.monotonic()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"{wall:.4f} {ru.ru_utime + ru.ru_stime:.4f} {ru.ru_maxrss / 1024:.1f}")


def read_urls(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def threads(path, n, out):
    import concurrent.futures
    import requests

    urls = read_urls(path)
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=n, pool_maxsize=n)
    session.mount("http://", adapter)

    def get(u):
        try:
            return session.get(u, timeout=30).status_code
        except requests.RequestException:
            return 0

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        codes = list(pool.map(get, urls))
    with open(out, "w") as f:
        f.writelines(f"{c}\n" for c in codes)


def aio(path, n, out):
    import asyncio
    import aiohttp

    urls = read_urls(path)

    async def main():
        sem = asyncio.Semaphore(n)
        conn = aiohttp.TCPConnector(limit=n)
        async with aiohttp.ClientSession(connector=conn) as s:

            async def get(u):
                async with sem:
                    try:
                        async with s.get(u) as r:
                            await r.read()
                            return r.status
                    except aiohttp.ClientError:
                        return 0

            return await asyncio.gather(*(get(u) for u in urls))

    codes = asyncio.run(main())
    with open(out, "w") as f:
        f.writelines(f"{c}\n" for c in codes)


def tally(inputs, out):
    n_in = len(read_urls(inputs))
    delivered = ok = sent = in_place = 0
    with open(out) as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            delivered += 1
            ok += bool(r["ok"])
            sent += r["attempts"]
            in_place += r.get("line", i + 1) == i + 1  # one answer a line, in input order
    # lost: inputs without their answer in its place (missing, repeated or misplaced)
    print(delivered, ok, sent, n_in - in_place)


def tally_codes(out):
    with open(out) as f:
        codes = [int(x) for x in f if x.strip()]
    print(len(codes), sum(200 <= c < 400 for c in codes))


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "measure":
        measure(sys.argv[2:])
    elif what == "threads":
        threads(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif what == "aiohttp":
        aio(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif what == "tally":
        tally(sys.argv[2], sys.argv[3])
    elif what == "tally_codes":
        tally_codes(sys.argv[2])
