"""A light load generator: pre-built HTTP/1.1 requests over asyncio keep-alive connections.

Two clients with one interface: `raw` (asyncio streams, a few lines of HTTP/1.1; the
default, because it costs the shared 2 CPUs far less per request than httpx) and `httpx`
(httpx.AsyncClient). Two drivers: `open_loop` (requests start at scheduled times, whatever
the server does) and `closed_loop` (C connections, each sends its next request when the
previous answer arrived).
"""
from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field

now = time.perf_counter


@dataclass(frozen=True)
class Delivery:
    """One prepared webhook delivery."""

    webhook_id: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    wire: bytes  # the whole request as the raw client writes it


def build_request(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Result:
    """Timings (perf_counter seconds) and outcome of one delivery."""

    index: int
    scheduled: float = 0.0  # when it should have started (open loop); = started otherwise
    started: float = 0.0  # when the driver got to it (open loop: generator lateness = started - scheduled)
    sent: float = 0.0  # when it had a connection and was written
    done: float = 0.0
    status: int | None = None
    error: str | None = None


class StaleConnection(Exception):
    """A kept-alive connection the server had closed before we wrote on it."""


class RawConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.uses = 0
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int) -> "RawConnection":
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)  # asyncio sets TCP_NODELAY on TCP transports

    async def request(self, wire: bytes) -> int:
        reused = self.uses > 0
        self.uses += 1
        try:
            self.writer.write(wire)
            await self.writer.drain()
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self.close()
            if reused and not getattr(exc, "partial", b""):
                raise StaleConnection() from exc
            raise
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, keep = None, True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                keep = False
            elif name == "transfer-encoding" and "chunked" in value.lower():
                raise RuntimeError("chunked responses are not supported by the raw client")
        if length is None:
            await self.reader.read()  # body delimited by close
            keep = False
        else:
            await self.reader.readexactly(length)
        if not keep:
            self.close()
        return status

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()


class RawPool:
    """Up to `size` keep-alive connections, reused in FIFO order; waiters queue for one."""

    def __init__(self, host: str, port: int, size: int):
        self.host, self.port, self.size = host, port, size
        self.idle: collections.deque[RawConnection] = collections.deque()
        self.waiters: collections.deque[asyncio.Future] = collections.deque()
        self.count = 0
        self.opened = 0

    async def acquire(self) -> RawConnection:
        while self.idle:
            conn = self.idle.popleft()
            if not conn.closed:
                return conn
        if self.count >= self.size:
            fut = asyncio.get_running_loop().create_future()
            self.waiters.append(fut)
            conn = await fut  # a connection handed over, or None: a slot to open a new one
            if conn is not None:
                return conn
        else:
            self.count += 1
        try:
            conn = await RawConnection.open(self.host, self.port)
        except BaseException:
            self._discard_slot()
            raise
        self.opened += 1
        return conn

    def release(self, conn: RawConnection) -> None:
        if conn.closed:
            self._discard_slot()
            return
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        self.idle.append(conn)

    def _discard_slot(self) -> None:
        self.count -= 1
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                self.count += 1
                fut.set_result(None)
                return

    async def send(self, delivery: Delivery, result: Result) -> None:
        for attempt in (1, 2):
            conn = await self.acquire()
            if attempt == 1:
                result.sent = now()
            try:
                result.status = await conn.request(delivery.wire)
            except StaleConnection:
                self.release(conn)  # closed: frees the slot
                continue  # nothing reached the server on a dead keep-alive connection: once more
            except BaseException:
                conn.close()  # never reuse a connection left mid-exchange
                self.release(conn)
                raise
            self.release(conn)
            return
        raise ConnectionError("connection closed twice before a response")

    async def aclose(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


class HttpxPool:
    """httpx.AsyncClient with the same connection limit (its own pool does the queueing)."""

    def __init__(self, host: str, port: int, size: int):
        import httpx

        self.client = httpx.AsyncClient(
            base_url=f"http://{host}:{port}",
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            timeout=60.0,
        )
        self.opened = None  # httpx does not tell

    async def send(self, delivery: Delivery, result: Result) -> None:
        result.sent = now()  # httpx queues for a connection inside post(): "sent" = handed to httpx
        response = await self.client.post("/webhooks", content=delivery.body, headers=dict(delivery.headers))
        result.status = response.status_code

    async def aclose(self) -> None:
        await self.client.aclose()


def make_pool(kind: str, host: str, port: int, size: int):
    return {"raw": RawPool, "httpx": HttpxPool}[kind](host, port, size)


async def _one(pool, delivery: Delivery, result: Result) -> None:
    result.started = now()
    try:
        await pool.send(delivery, result)
    except Exception as exc:  # noqa: BLE001 - counted and reported, never fatal
        result.error = type(exc).__name__ + (f": {exc}" if str(exc) else "")
        if not result.sent:
            result.sent = result.started
    result.done = now()


@dataclass
class PhaseRun:
    results: list[Result]
    wall_start: float
    wall_end: float
    connections: int | None = None
    notes: list[str] = field(default_factory=list)


async def open_loop(kind: str, host: str, port: int, deliveries: list[Delivery], rate: float, max_conns: int) -> PhaseRun:
    """Start delivery i at t0 + i/rate, never waiting for earlier answers (no coordinated omission)."""
    pool = make_pool(kind, host, port, max_conns)
    results = [Result(i) for i in range(len(deliveries))]
    tasks = []
    t0 = now() + 0.05
    try:
        for i, delivery in enumerate(deliveries):
            scheduled = t0 + i / rate
            delay = scheduled - now()
            if delay > 0:
                await asyncio.sleep(delay)
            results[i].scheduled = scheduled
            tasks.append(asyncio.create_task(_one(pool, delivery, results[i])))
        await asyncio.gather(*tasks)
    finally:
        await pool.aclose()
    return PhaseRun(results, t0, max(r.done for r in results), getattr(pool, "opened", None))


async def closed_loop(kind: str, host: str, port: int, deliveries: list[Delivery], concurrency: int) -> PhaseRun:
    """`concurrency` connections, each sending its next delivery as soon as the last one is answered."""
    pool = make_pool(kind, host, port, concurrency)
    results = [Result(i) for i in range(len(deliveries))]
    queue = iter(range(len(deliveries)))

    async def lane() -> None:
        for i in queue:
            await _one(pool, deliveries[i], results[i])
            results[i].scheduled = results[i].started

    t0 = now()
    try:
        await asyncio.gather(*(lane() for _ in range(concurrency)))
    finally:
        await pool.aclose()
    return PhaseRun(results, t0, max(r.done for r in results), getattr(pool, "opened", None))
