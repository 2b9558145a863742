"""The `derivatives` command: `serve`, `simulate`, `engine replay`, `engine run`, `engine follow`,
`bench binding`, `bench oracle`, `bench projection`, `bench api`, `bench topology` and `bench resp`."""

from __future__ import annotations

import argparse
import sys

from derivatives import _core, logs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="derivatives", description="USDT-margined perpetual futures exchange")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the exchange on embedded defaults (settings: DERIVATIVES_*)")
    serve.add_argument("--host", default=None, help="listen address (default DERIVATIVES_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="listen port, 0 for any (default DERIVATIVES_PORT or 8000)")
    serve.add_argument("--database-url", default=None, help="projection database (default DERIVATIVES_DATABASE_URL)")
    serve.add_argument("--journal-dir", default=None,
                       help="engine journal directory (default DERIVATIVES_JOURNAL_DIR, or beside the SQLite file; off: none)")
    serve.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    serve.add_argument("--seed", type=int, default=7, help="seed of the demo market")
    serve.add_argument("--no-demo-market", action="store_true", help="no demo market maker / noise taker")
    serve.add_argument("--gateways", type=int, default=None,
                       help="gateway processes on the port (default DERIVATIVES_GATEWAYS or one per core)")
    serve.add_argument("--var", default="var", help="directory of the local nats-server's data (default var)")
    serve.add_argument("--resp-port", type=int, default=None,
                       help="Redis-protocol door port, 0 off (default DERIVATIVES_RESP_PORT or the HTTP port + 1)")
    simulate = commands.add_parser("simulate", help="a simulated market with a scenario against a running exchange")
    simulate.add_argument("--url", default="http://127.0.0.1:8000", help="the exchange's URL (printed by serve)")
    simulate.add_argument("--admin-token", default=None,
                          help="admin token (printed by serve; default DERIVATIVES_ADMIN_TOKEN)")
    simulate.add_argument("--scenario", default="crash",
                          help="calm, crash, squeeze, venue-outage or thin-book (default crash)")
    simulate.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    simulate.add_argument("--duration", type=float, default=60, help="seconds the scenario's move lasts")
    simulate.add_argument("--traders", type=int, default=200, help="leveraged trader accounts to create")
    simulate.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    engine = commands.add_parser("engine", help="the engine and its journal")
    actions = engine.add_subparsers(dest="action", required=True)
    replay = actions.add_parser("replay", help="rebuild the state from a journal (read-only) and print its hash")
    replay.add_argument("--journal", required=True, help="journal directory")
    run = actions.add_parser("run", help="execute length-prefixed command batches from stdin durably, one ack line each")
    run.add_argument("--journal", required=True, help="journal directory (created if missing)")
    run.add_argument("--segment-bytes", type=int, default=_core.DEFAULT_SEGMENT_BYTES, help="roll segments at this size")
    run.add_argument("--replicate-to", default=None, metavar="HOST:PORT", help="ship the journal to this follower")
    run.add_argument("--sync", action="store_true", help="acknowledge a batch only once the follower made it durable")
    follow = actions.add_parser("follow", help="hot standby: follow a primary's journal until SIGUSR1 promotes it")
    follow.add_argument("--journal", required=True, help="the follower's own journal directory (created if missing)")
    follow.add_argument("--listen", required=True, metavar="HOST:PORT", help="where the primary connects (port 0: any)")
    follow.add_argument("--segment-bytes", type=int, default=_core.DEFAULT_SEGMENT_BYTES, help="roll segments at this size")
    bench = commands.add_parser("bench", help="benchmarks")
    kinds = bench.add_subparsers(dest="kind", required=True)
    binding = kinds.add_parser("binding", help="the engine through the Python binding")
    binding.add_argument("--prefill", type=int, default=1_000_000, help="resting orders before the timed mix")
    binding.add_argument("--commands", type=int, default=2_000_000, help="commands in the timed mix")
    binding.add_argument("--batch", type=int, default=10_000, help="commands per batch")
    binding.add_argument("--single-calls", type=int, default=100_000, help="one-command calls to time")
    oracle = kinds.add_parser("oracle", help="the mark price service under a synthetic venue load")
    oracle.add_argument("--venues", type=int, default=5, help="venues quoting every symbol (1-5)")
    oracle.add_argument("--symbols", type=int, default=100, help="symbols priced")
    oracle.add_argument("--rate", type=float, default=10, help="updates per second of every venue market")
    oracle.add_argument("--seconds", type=float, default=20, help="feed duration of each run")
    oracle.add_argument("--interval-ms", type=int, default=1_000, help="publication period of the service")
    projection = kinds.add_parser("projection", help="the SQL projection of recorded batches, previous vs current")
    projection.add_argument("--commands", type=int, default=5_000, help="commands in the recorded trading stream")
    projection.add_argument("--per-call", type=int, default=16, help="batches per projection call (transaction)")
    projection.add_argument("--database-url", default=None,
                            help="PostgreSQL URL (a schema is created and dropped); default: SQLite in a temp dir")
    for kind, help_text in (("api", "signed REST orders and diff-depth fan-out, load from a second process"),
                            ("topology", "the same load against derivatives serve, one gateway then two")):
        load = kinds.add_parser(kind, help=help_text)
        load.add_argument("--seconds", type=float, default=10, help="duration of each phase")
        load.add_argument("--rate", type=float, default=2_000, help="offered requests per second of the open-loop phases")
        load.add_argument("--connections", type=int, default=64, help="clients of the closed-loop phases")
        load.add_argument("--subscribers", type=int, default=1_000, help="diff-depth WebSocket subscribers")
        load.add_argument("--depth-rate", type=float, default=20, help="orders per second during the fan-out phase")
    resp = kinds.add_parser("resp", help="signed orders through the Redis-protocol door against REST, same run")
    resp.add_argument("--seconds", type=float, default=10, help="duration of each phase")
    resp.add_argument("--connections", type=int, default=16, help="closed-loop clients")
    resp.add_argument("--rounds", type=int, default=2, help="REST then door phases, this many times")
    return parser


def _simulate(args: argparse.Namespace) -> int:
    """Runs one scenario and prints its summary; exit status 1 when an invariant broke."""
    import asyncio
    import os

    from derivatives.simulator import SCENARIOS, Options, simulate

    token = args.admin_token or os.environ.get("DERIVATIVES_ADMIN_TOKEN")
    if not token:
        print("error: give --admin-token (printed by derivatives serve) or DERIVATIVES_ADMIN_TOKEN", file=sys.stderr)
        return 2
    if args.scenario not in SCENARIOS:
        print(f"error: unknown scenario {args.scenario!r}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    options = Options(args.url.rstrip("/"), token, args.scenario, args.seed, args.duration, args.traders)
    summary = asyncio.run(simulate(options))
    print(summary.json() if args.json else summary.text(), flush=True)
    return 0 if summary.ok else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `derivatives` command."""
    args = _parser().parse_args(argv)
    logs.configure()
    if args.command == "serve":
        import os
        from pathlib import Path

        from derivatives.config import Settings
        from derivatives.topology import StartupError, serve

        overrides: dict[str, object] = {"demo_market": not args.no_demo_market, "risk_services": True}
        if args.resp_port is not None or "DERIVATIVES_RESP_PORT" not in os.environ:
            overrides["resp_port"] = -1 if args.resp_port is None else args.resp_port
        for name in ("host", "port", "database_url", "journal_dir"):
            if getattr(args, name) is not None:
                overrides[name] = getattr(args, name)
        try:
            settings = Settings.from_env().with_overrides(**overrides)
        except (ValueError, OSError) as error:
            print(f"derivatives serve: bad settings: {error}", file=sys.stderr)
            return 2
        try:
            serve(settings, args.seconds, args.seed, args.gateways, Path(args.var))
        except StartupError as error:
            print(f"derivatives serve: {error}", file=sys.stderr)
            return 2
    elif args.command == "simulate":
        return _simulate(args)
    elif args.command == "engine":
        from derivatives import journal

        try:
            if args.action == "replay":
                journal.print_replay(args.journal)
            elif args.action == "follow":
                from derivatives.standby import follow

                follow(args.journal, args.listen, args.segment_bytes, sys.stdin.buffer, sys.stdout)
            else:
                journal.run(args.journal, args.segment_bytes, sys.stdin.buffer, sys.stdout, args.replicate_to, args.sync)
        except _core.JournalError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    elif args.command == "bench" and args.kind == "oracle":
        from oracle.bench import bench_oracle

        bench_oracle(args.venues, args.symbols, args.rate, args.seconds, args.interval_ms)
    elif args.command == "bench" and args.kind == "api":
        from api.bench import bench_api

        bench_api(args.seconds, args.rate, args.connections, args.subscribers, args.depth_rate)
    elif args.command == "bench" and args.kind == "topology":
        from api.bench_topology import bench_topology

        bench_topology(args.seconds, args.rate, args.connections, args.subscribers, args.depth_rate)
    elif args.command == "bench" and args.kind == "projection":
        from derivatives.persistence.projection_bench import bench_projection

        bench_projection(args.commands, args.per_call, args.database_url)
    elif args.command == "bench" and args.kind == "resp":
        from api.resp.bench import bench_resp

        bench_resp(args.seconds, args.connections, args.rounds)
    elif args.command == "bench":
        from derivatives.bench import bench_binding

        bench_binding(args.prefill, args.commands, args.batch, args.single_calls)
    return 0
