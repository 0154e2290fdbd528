#!/usr/bin/env python3
# bench/chat_users.py — what N connected users cost chapter 5's chat server, measured from
# outside (a second process, so that 10,000 users fit under a 20,000-descriptor limit).
#
#   ./gofer run chat --serve --addr 127.0.0.1:19000 --debug-addr 127.0.0.1:19001 &
#   python3 bench/chat_users.py 10000 127.0.0.1:19000 127.0.0.1:19001
#   kill -TERM %1
#
# Joins N users (asyncio, 500 connecting at a time), reads the server's /debug/gofer/metrics
# before and after (goroutines, RSS, descriptors, CPU), then times 5 broadcasts from one user
# until every other user has read it. The broadcast times include this single-threaded
# Python client reading 10,000 sockets; the server's CPU per broadcast is the better figure.
# Raise `ulimit -n` above N + a few for this script.
import asyncio, json, sys, time, urllib.request
N = int(sys.argv[1]); addr = sys.argv[2]; dbg = sys.argv[3]
host, port = addr.rsplit(":", 1)
def metrics():
    return json.load(urllib.request.urlopen(f"http://{dbg}/debug/gofer/metrics"))
async def main():
    m0 = metrics()
    t0 = time.time(); conns = []
    sem = asyncio.Semaphore(500)
    async def join(i):
        async with sem:
            r, w = await asyncio.open_connection(host, int(port))
            w.write(f"u{i}\n".encode()); await w.drain()
            l = await r.readline(); assert l.startswith(b"welcome"), l
            conns.append((r, w))
    await asyncio.gather(*(join(i) for i in range(N)))
    t1 = time.time()
    m1 = metrics()
    print(f"{N} users joined in {t1-t0:.1f} s; server before: {m0['goroutines']} goroutines, {m0['rss_bytes']/2**20:.1f} MiB; "
          f"after: {m1['goroutines']} goroutines, {m1['rss_bytes']/2**20:.1f} MiB, {m1['open_fds']} fds, cpu {m1['cpu_user_seconds']+m1['cpu_system_seconds']:.2f} s")
    # one broadcast, 5 times: time until every other user has it
    r0, w0 = conns[0]
    for k in range(5):
        t = time.time()
        w0.write(f"hello {k}\n".encode()); await w0.drain()
        async def got(r):
            while True:
                l = await r.readline()
                if l.startswith(f"u0: hello {k}".encode()): return
        await asyncio.gather(*(got(r) for r, _ in conns[1:]))
        print(f"broadcast {k}: all {N-1} got it in {(time.time()-t)*1000:.0f} ms")
    m2 = metrics()
    print(f"server cpu total {m2['cpu_user_seconds']+m2['cpu_system_seconds']:.2f} s, rss {m2['rss_bytes']/2**20:.1f} MiB")
asyncio.run(main())
