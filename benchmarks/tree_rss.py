"""Run a command; print its wall time and the peak summed RSS of its whole process tree (worker processes, Ray's
raylet and workers included), sampled every 0.2 s. ``/usr/bin/time -v`` reports only the largest single process.

Run: ``python benchmarks/tree_rss.py -- ntpgeom data build 'shards/*.parquet' --engine ray -T 5 -o big.npz``
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time


def main() -> int:
    import psutil

    argv = sys.argv[1:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: tree_rss.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv)
    peak, stop = [0, 0], threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                rss = 0
                for q in tree:
                    try:
                        rss += q.memory_info().rss
                    except psutil.Error:
                        pass
                peak[0], peak[1] = max(peak[0], rss), max(peak[1], len(tree))
            except psutil.Error:
                pass
            stop.wait(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    rc = proc.wait()
    stop.set()
    th.join()
    print(f"tree_rss: exit {rc}, wall {time.perf_counter() - t0:.1f} s, peak summed RSS {peak[0] / 2**30:.2f} GiB "
          f"(up to {peak[1]} processes), load average {psutil.getloadavg()[0]:.1f}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
