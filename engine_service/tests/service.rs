//! The engine service over a real nats-server (started here on a free port; skipped only when no
//! `nats-server` exists and `CI` is unset): replies carry their own seqs and events under
//! concurrent clients, a malformed batch changes nothing, the stream holds every batch once in
//! order and a replica fed it reaches the journal's state, a journal the stream lacks is
//! republished at start, and after SIGKILL and restart the stream goes on without gap or
//! duplicate while every acknowledged command is in the journal.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use derivatives_core::codec::encode_command;
use derivatives_core::journal::{self, JournalConfig};
use derivatives_core::order::Side;
use derivatives_core::replication::{batch_body, Replica};
use derivatives_core::runtime::{Runtime, RuntimeConfig};
use derivatives_core::testkit::{instrument, limit, px, qty, TempDir};
use derivatives_core::Command;
use derivatives_engine_service::nats_server::{self, NatsServer};
use derivatives_engine_service::wire::{Names, ERROR, FIRST_SEQ, LAST_SEQ, MALFORMED, TS};

/// A `derivatives-engine` process; its "serving" line has been seen.
struct Service {
    child: Child,
}

impl Service {
    fn start(journal: &Path, url: &str, prefix: &str) -> Self {
        let mut child = Process::new(env!("CARGO_BIN_EXE_derivatives-engine"))
            .args(["--journal", &journal.display().to_string(), "--nats-url", url, "--prefix", prefix])
            .stderr(Stdio::piped())
            .spawn()
            .expect("the service starts");
        let (seen, serving) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().expect("piped"));
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("service: {line}");
                assert!(serde_json::from_str::<serde_json::Value>(&line).is_ok(), "a log line is one JSON object: {line}");
                if line.contains("\"msg\":\"serving\"") {
                    let _ = seen.send(());
                }
            }
        });
        serving.recv_timeout(Duration::from_secs(60)).expect("the service says it is serving");
        Self { child }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    fn terminate(mut self) {
        Process::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill -TERM");
        let status = self.child.wait().expect("reaped");
        assert!(status.success(), "SIGTERM stops it cleanly: {status}");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode(commands: &[Command]) -> Bytes {
    let mut bytes = Vec::new();
    for command in commands {
        encode_command(&mut bytes, command);
    }
    bytes.into()
}

fn setup() -> Vec<Command> {
    let mut commands = vec![Command::AddInstrument(instrument(1, "BTCUSDT"))];
    commands.extend((1..=8).map(|account| Command::Deposit { account, amount: derivatives_core::units::Quote(1_000_000 * 100_000_000) }));
    commands
}

/// Orders of `client` that cross each other's.
fn orders(client: u64, i: u64) -> Vec<Command> {
    let side = if (client + i) % 2 == 0 { Side::Buy } else { Side::Sell };
    let price = derivatives_core::units::Price(px("100").raw() + 10_000_000 * i64::try_from(i % 3).expect("small"));
    vec![
        Command::PlaceOrder(limit(1 + client % 8, 1, side, price, qty("1"))),
        Command::PlaceOrder(limit(1 + (client + 1) % 8, 1, Side::Buy, px("95"), qty("1"))),
    ]
}

/// (first, last, ts, events) of a successful reply.
async fn request(client: &async_nats::Client, names: &Names, payload: Bytes) -> Result<(u64, u64, u64, Bytes), (String, String)> {
    let reply = client.request(names.commands.clone(), payload).await.map_err(|e| ("request".into(), e.to_string()))?;
    let headers = reply.headers.expect("reply headers");
    if let Some(kind) = headers.get(ERROR) {
        return Err((kind.as_str().to_owned(), String::from_utf8_lossy(&reply.payload).into_owned()));
    }
    let number = |name: &str| headers.get(name).expect("header").as_str().parse::<u64>().expect("a number");
    Ok((number(FIRST_SEQ), number(LAST_SEQ), number(TS), reply.payload))
}

/// Seqs of the event records in `events`.
fn event_seqs(events: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < events.len() {
        let len = u32::from_le_bytes(events[pos..pos + 4].try_into().expect("four bytes")) as usize;
        out.push(u64::from_le_bytes(events[pos + 4..pos + 12].try_into().expect("eight bytes")));
        pos += 4 + len;
    }
    out
}

/// Every message of the stream, checked contiguous from seq 1 with one message per seq range,
/// applied to a replica; returns the replica.
async fn read_stream(js: &jetstream::Context, names: &Names, upto: u64) -> Replica {
    let stream = js.get_stream(&names.stream).await.expect("the stream");
    let mut replica = Replica::default();
    let mut next_seq = 1;
    let mut stream_seq = 1;
    for _ in 0..600 {
        while let Ok(message) = stream.get_raw_message(stream_seq).await {
            let header = |name: &str| message.headers.get(name).expect("header").as_str().parse::<u64>().expect("a number");
            let (first, last) = (header(FIRST_SEQ), header(LAST_SEQ));
            assert_eq!(first, next_seq, "stream message {stream_seq} starts at {first}, expected {next_seq}: a gap or a duplicate");
            assert_eq!(message.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned()), Some(first.to_string()));
            let body = batch_body::split(&message.payload).expect("a valid body");
            assert_eq!((body.first_seq, body.last_seq), (first, last));
            assert_eq!(replica.apply(&message.payload).expect("applied in order"), last);
            next_seq = last + 1;
            stream_seq += 1;
        }
        if next_seq > upto {
            return replica;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the stream stopped at seq {}, expected {upto}", next_seq - 1);
}

struct Bed {
    _nats: NatsServer,
    url: String,
    dir: TempDir,
    names: Names,
    prefix: String,
}

fn bed(name: &str) -> Option<Bed> {
    let binary = nats_server::require()?;
    let dir = TempDir::new(name);
    let nats = NatsServer::start(&binary, &dir.path().join("nats")).expect("nats-server starts");
    let prefix = format!("t{}{name}", std::process::id());
    Some(Bed { url: nats.url(), _nats: nats, names: Names::new(&prefix), prefix, dir })
}

impl Bed {
    fn journal(&self) -> PathBuf {
        self.dir.path().join("journal")
    }

    fn service(&self) -> Service {
        Service::start(&self.journal(), &self.url, &self.prefix)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_concurrent_clients_get_their_own_seqs_and_events_and_the_stream_holds_every_batch_once() {
    let Some(bed) = bed("replies") else { return };
    let service = bed.service();
    let client = async_nats::connect(&bed.url).await.expect("connected");
    let (first, last, _, events) = request(&client, &bed.names, encode(&setup())).await.expect("setup");
    assert_eq!((first, last), (1, 9));
    assert!(event_seqs(&events).iter().all(|s| (1..=9).contains(s)) && !events.is_empty());

    let (malformed, _) = request(&client, &bed.names, Bytes::from_static(&[9, 0, 0, 0, 1])).await.expect_err("refused");
    assert_eq!(malformed, MALFORMED);
    let (first, last, _, _) = request(&client, &bed.names, Bytes::new()).await.expect("an empty batch is answered");
    assert_eq!((first, last), (10, 9), "the malformed batch took no seq; an empty one takes none either");

    let mut tasks = Vec::new();
    for id in 0..8_u64 {
        let (client, names) = (client.clone(), bed.names.clone());
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in 0..25 {
                let (first, last, ts, events) = request(&client, &names, encode(&orders(id, i))).await.expect("acknowledged");
                assert_eq!(last - first + 1, 2, "two commands, two seqs");
                assert!(ts > 0);
                let seqs = event_seqs(&events);
                assert!(seqs.contains(&first) && seqs.contains(&last), "events of both commands");
                assert!(seqs.iter().all(|s| (first..=last).contains(s)), "only this request's events: {seqs:?} for {first}..={last}");
                answers.push((first, last));
            }
            answers
        }));
    }
    let mut ranges = vec![(1, 9)];
    for task in tasks {
        ranges.extend(task.await.expect("client task"));
    }
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 + 1, "seq ranges are disjoint and contiguous: {pair:?}");
    }
    let upto = ranges.last().expect("some").1;
    assert_eq!(upto, 9 + 8 * 25 * 2);

    let js = jetstream::new(client.clone());
    let replica = read_stream(&js, &bed.names, upto).await;
    service.terminate();
    let (replayed, _) = journal::replay(&bed.journal(), |_, _| {}).expect("the journal replays");
    assert_eq!((replica.engine().last_seq(), replica.engine().state_hash()), (replayed.last_seq(), replayed.state_hash()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_journal_the_stream_lacks_is_republished_and_sigkill_then_restart_leaves_no_gap_nor_duplicate() {
    let Some(bed) = bed("restart") else { return };
    // A journal written before the stream existed: the service publishes it at start.
    {
        let recovered = journal::recover(&JournalConfig::new(bed.journal())).expect("a fresh journal");
        let rt = Runtime::start(recovered.engine, Box::new(|| 1), RuntimeConfig::default(), Some(Box::new(recovered.writer)));
        rt.execute(setup(), None).expect("setup");
        for i in 0..40 {
            rt.execute(orders(i, i), None).expect("orders");
        }
    }
    let client = async_nats::connect(&bed.url).await.expect("connected");
    let js = jetstream::new(client.clone());
    let service = bed.service();
    read_stream(&js, &bed.names, 89).await;

    // Load from a client while the service is SIGKILLed; then restart and load again.
    let (acked, acks) = tokio::sync::mpsc::unbounded_channel();
    let (load_client, names) = (client.clone(), bed.names.clone());
    let load = tokio::spawn(async move {
        for i in 0..u64::MAX {
            match request(&load_client, &names, encode(&orders(i, i))).await {
                Ok((_, last, _, _)) => {
                    let _ = acked.send(last);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    service.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let service = bed.service();
    let (first, _, _, _) = request(&client, &bed.names, encode(&orders(1, 1))).await.expect("the restarted service serves");
    tokio::time::sleep(Duration::from_millis(300)).await;
    load.abort();
    let _ = load.await;
    let mut acks = acks;
    let mut highest_acked = 0;
    while let Ok(last) = acks.try_recv() {
        highest_acked = highest_acked.max(last);
    }
    assert!(highest_acked > 89, "commands were acknowledged during the run");
    assert!(first > 89, "the restarted service continues the sequence");
    service.terminate();
    let (replayed, _) = journal::replay(&bed.journal(), |_, _| {}).expect("the journal replays");
    assert!(replayed.last_seq() >= highest_acked, "every acknowledged command is in the journal");
    let replica = read_stream(&js, &bed.names, replayed.last_seq()).await;
    assert_eq!((replica.engine().last_seq(), replica.engine().state_hash()), (replayed.last_seq(), replayed.state_hash()));
}
