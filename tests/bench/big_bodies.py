"""Opens N connections that each POST a body of SIZE bytes at once, samples
the gateway's resident memory while they run, and prints a markdown section.
Usage: big_bodies.py URL GATEWAY_PID N SIZE   (bounded: 180 s at most)"""
import asyncio
import collections
import resource
import sys
import time
import urllib.parse

url, pid, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
u = urllib.parse.urlsplit(url)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 100)), hard))

prefix = b'{"id":1,"pad":"'
body = prefix + b"x" * (size - len(prefix) - 2) + b'"}'
head = (f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
chunk = 256 * 1024


def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def one(statuses):
    try:
        r, w = await asyncio.open_connection(u.hostname, u.port)
        w.write(head)
        for i in range(0, len(body), chunk):
            w.write(body[i:i + chunk])
            await w.drain()
        line = await asyncio.wait_for(r.readline(), 60)
        statuses[line.split(b" ")[1].decode() if line else "closed"] += 1
        w.close()
    except (ConnectionError, asyncio.TimeoutError, OSError):
        # the gateway may answer 503 and close before the body is sent
        statuses["closed early"] += 1


async def main():
    statuses = collections.Counter()
    peak = base = rss_kib()
    tasks = [asyncio.create_task(one(statuses)) for _ in range(n)]
    t0 = time.monotonic()
    while not all(t.done() for t in tasks) and time.monotonic() - t0 < 180:
        peak = max(peak, rss_kib())
        await asyncio.sleep(0.02)
    for t in tasks:
        t.cancel()
    secs = time.monotonic() - t0
    print("## Gateway: resident memory under 1,000 concurrent 4 MiB bodies")
    print()
    print(f"{n} connections, each POSTing {size} bytes at once, against the gateway on the local")
    print(f"broker (default in-flight budget). Sampled every 20 ms over {secs:.1f} s.")
    print()
    print(f"- resident memory: {base / 1024:.1f} MiB before, {peak / 1024:.1f} MiB peak (target <= 64 MiB)")
    print("- answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))


asyncio.run(main())
