"""`derivatives bench binding`: the engine driven through the Python binding.

Measures, in one invocation: batched throughput on the shared benchmark workload (pre-encoded
batches, as a gateway would send them), single-command calls (throughput and latency
percentiles), and the Python-side cost of encoding commands and decoding events, reported
separately so that each cost is visible on its own.
"""

from __future__ import annotations

import time
from decimal import Decimal

from derivatives import _core
from derivatives.codec import count_records, decode_events, encode_commands
from derivatives.commands import PlaceOrder
from derivatives.enums import Side


def _percentile(sorted_ns: list[int], q: float) -> int:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))]


def _progress(label: str, done: int, total: int) -> None:
    print(f"\r{label} {done * 100 // max(total, 1):3d}%", end="", flush=True)


def bench_binding(prefill: int, commands: int, batch: int, single_calls: int) -> dict[str, float]:
    """Runs every measurement and returns the figures (also printed)."""
    print(f"binding bench: {prefill} resting orders prefilled, {commands} mixed commands, batches of {batch}")
    started = time.perf_counter()
    setup, mix = _core.workload_batches(prefill, commands, batch)
    print(f"generated workload in {time.perf_counter() - started:.1f} s")
    engine = _core.Engine()
    for i, chunk in enumerate(setup):
        engine.execute(chunk)
        if i % 10 == 0:
            _progress("prefill", i, len(setup))
    print()
    events = 0
    started = time.perf_counter()
    for chunk in mix:
        events += len(engine.execute(chunk)[3])
    batched = commands / (time.perf_counter() - started)
    print(f"batched: {batched / 1e6:.2f} M commands/s ({events / commands:.0f} event bytes per command)")

    single = [engine_batch for engine_batch in _singles(mix, single_calls)]
    latencies: list[int] = []
    started = time.perf_counter()
    for one in single:
        t0 = time.perf_counter_ns()
        engine.execute(one)
        latencies.append(time.perf_counter_ns() - t0)
    single_rate = len(single) / (time.perf_counter() - started)
    latencies.sort()
    p50, p99, p999 = (_percentile(latencies, q) for q in (0.5, 0.99, 0.999))
    print(f"single-command calls: {single_rate / 1e3:.0f} k calls/s; latency p50 {p50 / 1e3:.1f} us, "
          f"p99 {p99 / 1e3:.1f} us, p99.9 {p999 / 1e3:.1f} us")

    orders = [PlaceOrder(7, 1, Side.BUY, Decimal("0.001"), price=Decimal("49000")) for _ in range(20_000)]
    started = time.perf_counter()
    encoded = encode_commands(orders)
    encode_rate = len(orders) / (time.perf_counter() - started)
    result = engine.execute(encoded)[3]
    started = time.perf_counter()
    decoded = decode_events(result)
    decode_rate = len(decoded) / (time.perf_counter() - started)
    print(f"python codec: encode {encode_rate / 1e3:.0f} k commands/s, decode {decode_rate / 1e3:.0f} k events/s")
    return {"batched": batched, "single": single_rate, "p50_ns": p50, "p99_ns": p99, "p999_ns": p999,
            "encode": encode_rate, "decode": decode_rate}


def _singles(mix: list[bytes], limit: int) -> list[bytes]:
    """Splits the first batches of the mix back into one-command batches."""
    out: list[bytes] = []
    for chunk in mix:
        pos = 0
        while pos < len(chunk) and len(out) < limit:
            length = int.from_bytes(chunk[pos : pos + 4], "little")
            out.append(chunk[pos : pos + 4 + length])
            pos += 4 + length
        if len(out) >= limit:
            break
    assert sum(count_records(one) for one in out) == len(out)
    return out
