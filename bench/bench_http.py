"""Benchmark over HTTP: `mcrc serve` (uvicorn) in a subprocess on 127.0.0.1, open-loop load from this process.

Set-up (all local, in a temporary directory): a SQLite store migrated, one clinician with a store API
token, an RSA test key whose public JWK Set is the one trusted CDS Hooks issuer (MCRC_CDS_ISSUERS), and
MCRC_PUBLIC_URL so the JWT audience is the URL called; `mcrc serve --workers N` (default: one per core).
Then, `--rounds` times (default 3), for each target in turn, requests are sent at a
fixed rate (default 200/s) for a fixed time (default 15 s) whatever the server's pace (open loop: each
request leaves at its scheduled instant, and its latency is counted from that instant, so a stalled
server cannot hide its queue):

* `echo`: GET /api/v1/health (the floor: FastAPI + uvicorn + the middleware, no work);
* `assess`: POST /api/v1/assess with a store token, cycling through the sample patients in examples/ (every
  call assesses: nothing of the answer is kept between calls);
* `cds-patient-view`: POST /cds-services/mcrc-patient-view with a prefetch Bundle from examples/fhir/ and
  a fresh signed JWT per request (signed before the run, so the client's RSA signing is not measured); the
  five example records repeat, as when an EHR opens the same charts again (their reading and assessment are
  reused; the JWT check, the cards and the answer are made for each call);
* `cds-patient-view, every Bundle new`: the same with a Bundle never seen before in every call (the full
  FHIR validation and the assessment each time), at --distinct-rate; reported, not judged against the target.

Reports p50/p99/max latency, errors and the achieved rate per target and round, then for the whole run (all
rounds pooled) p50/p99 and errors, with the range of the rounds' own p99; the target (DESIGN.md) is p99 under
15 ms with no errors, the aim p99 within 1.5x of the echo endpoint, both for the run. Exit 1 unless every
judged target meets it; how many single rounds did is printed too.
Not part of the test suite:  .venv/bin/python bench/bench_http.py [--rate 200] [--seconds 15] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
import uvloop
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from mcrc.api.cdshooks import PATIENT_VIEW_ID
from mcrc.store.api import Store

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MS = 15.0
ISS = "https://ehr.bench.invalid"


@dataclass
class Result:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    seconds: float = 0.0
    server_cpu_ms: float | None = None  # server process CPU time per request (less sensitive to other load)

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))] if xs else float("nan")

    def line(self) -> str:
        errs = sum(self.errors.values())
        detail = f" {self.errors}" if errs else ""
        return (f"{self.name:<18} {self.sent:>6} req  {self.sent / self.seconds:7.1f} req/s  "
                f"p50 {self.pct(50):6.2f} ms  p99 {self.pct(99):6.2f} ms  max {max(self.latencies_ms, default=0):7.2f}"
                f" ms  errors {errs}{detail}"
                + (f"  server CPU {self.server_cpu_ms:.2f} ms/req" if self.server_cpu_ms is not None else ""))


def machine_pauses(seconds: float = 1.5) -> str:
    """How often this (virtual) machine stops a busy thread for more than 1 ms, measured with nothing else
    running: the context for a round's tail latencies, which no server can hide."""
    gaps: list[float] = []
    end = time.perf_counter() + seconds
    last = time.perf_counter()
    while (now := time.perf_counter()) < end:
        if now - last > 0.001:
            gaps.append((now - last) * 1000)
        last = now
    return (f"machine pauses > 1 ms: {len(gaps) / seconds:.0f}/s, {sum(gaps) / seconds:.0f} ms lost per s, "
            f"longest {max(gaps, default=0):.1f} ms")


def cpu_ms(pid: int) -> float | None:
    """User + system CPU time so far of a process and its children (the workers), from Linux /proc; None
    elsewhere."""
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
            found = True
    return total if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(tmp: Path) -> tuple[str, object, dict[str, str]]:
    """Store with a clinician token, the CDS issuer's key files, and the server's environment."""
    url = f"sqlite:///{tmp / 'bench.db'}"
    with Store(url) as s:
        s.upgrade()
        s.add_user("bench-admin", "admin")
        s.add_user("bench-clinician", "clinician", actor="bench-admin")
        token = s.create_token("bench-clinician", label="bench").token
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key())) | {"kid": "bench-1", "use": "sig", "alg": "RS256"}
    (tmp / "jwks.json").write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    (tmp / "issuers.json").write_text(json.dumps({"issuers": [{"iss": ISS, "jwks_file": "jwks.json"}]}),
                                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCRC_")}
    env |= {"MCRC_DATABASE_URL": url, "MCRC_CDS_ISSUERS": str(tmp / "issuers.json")}
    return token, key, env


def start_server(env: dict[str, str], port: int, workers: int = 1) -> subprocess.Popen:
    env = env | {"MCRC_PUBLIC_URL": f"http://127.0.0.1:{port}", "MCRC_PORT": str(port), "MCRC_HOST": "127.0.0.1"}
    cmd = [str(Path(sys.executable).parent / "mcrc"), "serve", "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mcrc serve exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/ready", timeout=1).status_code == 200:
                _settle(proc.pid)
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("mcrc serve did not become ready within 60 s")


def _settle(pid: int) -> None:
    """Wait until every worker has finished starting (one answering is not all of them): CPU use quiet for 1 s."""
    last = cpu_ms(pid)
    for _ in range(60):
        time.sleep(1.0)
        now = cpu_ms(pid)
        if last is None or now is None or now - last < 50:
            return
        last = now


def cds_tokens(key, aud: str, n: int) -> list[str]:
    now = int(time.time())
    out = []
    for _ in range(n):
        claims = {"iss": ISS, "sub": "bench-ehr", "aud": aud, "iat": now, "exp": now + 240, "jti": str(uuid.uuid4())}
        out.append(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench-1", "typ": "JWT"}))
    return out


class Pool:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: the load generator must cost far less than
    the server it measures (a full-featured client spends milliseconds per request at this rate on 2 cores)."""

    def __init__(self, host: str, port: int, size: int = 64) -> None:
        self.host, self.port = host, port
        self.idle: asyncio.Queue = asyncio.Queue()
        for _ in range(size):
            self.idle.put_nowait(None)  # a slot; the connection is opened on first use

    async def send(self, raw: bytes) -> int:
        """Send one prepared request and read the whole response; its status code."""
        conn = await self.idle.get()
        try:
            if conn is not None and conn[0].at_eof():  # the server closed it while idle (keep-alive timeout)
                conn[1].close()
                conn = None
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = conn
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            if "content-length" in headers:
                await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding") == "chunked":
                while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                    await reader.readexactly(size + 2)
                await reader.readuntil(b"\r\n")
            if headers.get("connection") == "close":
                writer.close()
                conn = None
            return status
        except BaseException:
            if conn is not None:
                conn[1].close()
            conn = None
            raise
        finally:
            self.idle.put_nowait(conn)

    async def close(self) -> None:
        while not self.idle.empty():
            conn = self.idle.get_nowait()
            if conn is not None:
                conn[1].close()


def raw_request(method: str, path: str, port: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def run_load(pool: Pool, name: str, make_request, rate: float, seconds: float) -> Result:
    """Open loop: request i leaves at start + i/rate; latency is measured from that scheduled instant."""
    res = Result(name)
    n = int(rate * seconds)
    # The load generator's own garbage collector stays out of the measurement (as in timeit): the tasks of a run
    # live until its end, and near the end of a 15 s run they set off a full collection of this process (~100,000
    # objects: httpx, SQLAlchemy, jwt...) that stopped every send and read for 50-90 ms (seen with gc.callbacks).
    gc.collect()
    gc.disable()
    clock = time.perf_counter  # not loop.time(): uvloop's clock counts whole milliseconds
    start = clock() + 0.05

    async def one(i: int, at: float) -> None:
        try:
            async with asyncio.timeout(10):  # no extra task per request, unlike wait_for
                status = await pool.send(make_request(i))
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            res.errors[type(exc).__name__] = res.errors.get(type(exc).__name__, 0) + 1
            return
        if status != 200:
            res.errors[str(status)] = res.errors.get(str(status), 0) + 1
            return
        res.latencies_ms.append((clock() - at) * 1000)

    try:
        tasks = []
        for i in range(n):
            at = start + i / rate
            delay = at - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, at)))
        await asyncio.gather(*tasks)
    finally:
        gc.enable()
    res.sent, res.seconds = n, clock() - start
    return res


async def bench(port: int, server_pid: int, token: str, key, rate: float, seconds: float,
                distinct_rate: float, rounds: int) -> list[list[Result]]:
    """`rounds` times every target in turn on one running server: a list of results per round."""
    rounds_out: list[list[Result]] = []
    patients = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "examples").glob("*.json"))]
    bundles = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "examples" / "fhir").glob("*.json"))]
    cds_path = f"/cds-services/{PATIENT_VIEW_ID}"
    cds_url = f"http://127.0.0.1:{port}{cds_path}"  # the JWT audience: the URL called

    def cds_body(b: dict) -> bytes:
        pid = next(e["resource"]["id"] for e in b["entry"] if e["resource"]["resourceType"] == "Patient")
        return json.dumps({"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                           "context": {"userId": "Practitioner/bench", "patientId": pid},
                           "prefetch": {"bundle": b}}).encode()

    json_type = {"Content-Type": "application/json"}
    assess_reqs = [raw_request("POST", "/api/v1/assess", port, json.dumps(p).encode(),
                               {"Authorization": f"Bearer {token}"} | json_type) for p in patients]
    cds_bodies = [cds_body(b) for b in bundles]
    echo_req = raw_request("GET", "/api/v1/health", port)

    def cds_reqs(n: int, distinct: bool = False) -> list[bytes]:
        """Signed patient-view calls; `distinct` gives every call a Bundle of its own (an identifier added to the
        Patient), so no call can reuse an earlier validation: the cost of a record never seen before."""
        out = []
        for i, tok in enumerate(cds_tokens(key, cds_url, n)):
            body = cds_bodies[i % len(cds_bodies)]
            if distinct:
                b = json.loads(json.dumps(bundles[i % len(bundles)]))
                pat = next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Patient")
                pat.setdefault("identifier", []).append({"system": "urn:bench", "value": str(i)})
                body = cds_body(b)
            out.append(raw_request("POST", cds_path, port, body, {"Authorization": f"Bearer {tok}"} | json_type))
        return out

    pool = Pool("127.0.0.1", port)
    n, n_new = int(rate * seconds), int(distinct_rate * seconds)
    try:
        # warm-up (first-call imports, knowledge base, connections) and a check that every request works. Each
        # CDS record is sent 12 times over the pool's connections in turn, which the workers accepted as they
        # came, so that every worker has most likely read every record once: a worker's first sight of a record
        # costs a full reading (~10 ms), which the "every Bundle new" target measures, not the repeated charts.
        for raw in [*assess_reqs, *cds_reqs(len(cds_bodies) * 12)]:
            status = await pool.send(raw)
            if status != 200:
                raise SystemExit(f"warm-up request failed with {status}: {raw[:80]!r}")
        await asyncio.gather(*(pool.send(echo_req) for _ in range(200)))

        for k in range(rounds):
            # signed per round (JWTs live 4 minutes); connections the server closed meanwhile are reopened
            signed, distinct = cds_reqs(n), cds_reqs(n_new, distinct=True)
            pauses = machine_pauses()
            results = []
            for name, make, r in (("echo (health)", lambda i: echo_req, rate),
                                  ("assess", lambda i: assess_reqs[i % len(assess_reqs)], rate),
                                  ("cds-patient-view", signed.__getitem__, rate),
                                  ("cds-patient-view, every Bundle new", distinct.__getitem__, distinct_rate)):
                before = cpu_ms(server_pid)
                results.append(res := await run_load(pool, name, make, r, seconds))
                after = cpu_ms(server_pid)
                if before is not None and after is not None:
                    res.server_cpu_ms = (after - before) / res.sent
            print(f"round {k + 1} of {rounds} ({pauses}):", flush=True)
            for res in results:
                print("  " + res.line(), flush=True)
            rounds_out.append(results)
    finally:
        await pool.close()
    return rounds_out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    ap.add_argument("--seconds", type=float, default=15.0, help="duration of each target (default 15)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="server processes (mcrc serve --workers; default: the number of cores)")
    ap.add_argument("--distinct-rate", type=float, default=100.0,
                    help="rate of the patient-view calls whose Bundles are all new (default 100; reported, not judged)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="times every target is run (default 3): the machine's own pauses vary between runs")
    args = ap.parse_args()
    print(f"open-loop load, {args.rate:.0f} req/s for {args.seconds:.0f} s per target, {args.rounds} rounds, "
          f"mcrc serve on 127.0.0.1 ({args.workers} worker{'s' if args.workers > 1 else ''}), client in another "
          f"process, {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="mcrc-bench-http-") as d:
        token, key, env = prepare(Path(d))
        port = free_port()
        server = start_server(env, port, args.workers)
        try:
            # the client runs on uvloop too: the load generator must stay cheap next to the server it measures
            rounds = uvloop.run(bench(port, server.pid, token, key, args.rate, args.seconds, args.distinct_rate,
                                       args.rounds))
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    # The verdict is on the whole run, as DESIGN.md states the target: the p99 of all requests of a target over
    # every round (9,000 at the defaults), and no error. The rounds show how much the machine moves it; how many
    # single rounds stayed under the limit is printed too (a stricter reading, not the verdict).
    print("whole run (all rounds pooled; the rounds' own p99 range in brackets):")
    ok, echo = True, None
    for t, first in enumerate(rounds[0]):
        runs = [r[t] for r in rounds]
        pooled = Result(first.name, latencies_ms=[x for r in runs for x in r.latencies_ms],
                        sent=sum(r.sent for r in runs), seconds=sum(r.seconds for r in runs))
        p99s = [r.pct(99) for r in runs]
        errs = sum(sum(r.errors.values()) for r in runs)
        cpu = [r.server_cpu_ms for r in runs if r.server_cpu_ms is not None]
        line = (f"  {first.name:<36} p50 {pooled.pct(50):6.2f} ms  p99 {pooled.pct(99):6.2f} ms "
                f"[{min(p99s):.1f}-{max(p99s):.1f}]  errors {errs}"
                + (f"  server CPU {statistics.median(cpu):.2f} ms/req" if cpu else ""))
        if t == 0:
            echo = pooled.pct(99)
        elif "new" in first.name:
            line += (f"  (at {args.distinct_rate:.0f} req/s; reported, not judged: every call pays the full FHIR "
                     "validation and assessment)")
        else:
            met = pooled.pct(99) < LIMIT_MS and errs == 0
            ok &= met
            rounds_met = sum(1 for r in runs if r.pct(99) < LIMIT_MS and not r.errors)
            line += (f"  target p99 < {LIMIT_MS:.0f} ms, no errors: {'met' if met else 'MISSED'} "
                     f"(p99 / limit {pooled.pct(99) / LIMIT_MS:.2f}; each round alone: {rounds_met} of {len(runs)}); "
                     f"p99 / echo p99 = {pooled.pct(99) / echo:.2f} (aim <= 1.5)")
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
