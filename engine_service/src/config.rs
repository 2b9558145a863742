//! The service's configuration: flags, with the NATS URL and subject prefix also taken from
//! `DERIVATIVES_NATS_URL` / `DERIVATIVES_NATS_PREFIX` (a flag wins).

use std::path::PathBuf;

use derivatives_core::journal::DEFAULT_SEGMENT_BYTES;

/// Usage text.
pub const USAGE: &str = "usage: derivatives-engine --journal DIR [--nats-url URL] [--prefix P]
    [--replicate-to HOST:PORT [--sync]] [--standby --listen HOST:PORT]
    [--snapshot-every-commands N] [--snapshot-every-seconds S] [--segment-bytes N]

Serves the engine on NATS: commands by request-reply on {prefix}.engine.commands (queue group
`engine`), every batch on the JetStream stream {PREFIX}_BATCHES (subject {prefix}.batches).
--standby follows a primary's journal on --listen until SIGUSR1 promotes it.
Environment: DERIVATIVES_NATS_URL (default nats://127.0.0.1:4222), DERIVATIVES_NATS_PREFIX
(default derivatives). SIGTERM/SIGINT stop it cleanly.";

/// What the service runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The journal directory (recovered at start).
    pub journal: PathBuf,
    /// Segment size of the journal.
    pub segment_bytes: u64,
    /// NATS server URL(s), comma-separated.
    pub nats_url: String,
    /// Subject prefix.
    pub prefix: String,
    /// Ship the journal to a follower at this address.
    pub replicate_to: Option<String>,
    /// Acknowledge only what the follower made durable too.
    pub sync: bool,
    /// Follow a primary on this address until promoted (SIGUSR1).
    pub standby_listen: Option<String>,
    /// Snapshot after this many commands (0: never by count).
    pub snapshot_every_commands: u64,
    /// Snapshot after this many seconds with new commands (0: never by time).
    pub snapshot_every_seconds: u64,
}

impl Config {
    /// Parses `args` (without the program name) with `env` for the environment.
    ///
    /// # Errors
    /// What is wrong, for the usage message.
    pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut config = Self {
            journal: PathBuf::new(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            nats_url: env("DERIVATIVES_NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
            prefix: env("DERIVATIVES_NATS_PREFIX").unwrap_or_else(|| "derivatives".into()),
            replicate_to: None,
            sync: false,
            standby_listen: None,
            snapshot_every_commands: 1_000_000,
            snapshot_every_seconds: 600,
        };
        let mut standby = false;
        let mut journal = None;
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
            let number = |text: String| text.parse::<u64>().map_err(|_| format!("{flag}: not a whole number: {text}"));
            match flag.as_str() {
                "--journal" => journal = Some(PathBuf::from(value()?)),
                "--segment-bytes" => config.segment_bytes = number(value()?)?,
                "--nats-url" => config.nats_url = value()?,
                "--prefix" => config.prefix = value()?,
                "--replicate-to" => config.replicate_to = Some(value()?),
                "--sync" => config.sync = true,
                "--standby" => standby = true,
                "--listen" => config.standby_listen = Some(value()?),
                "--snapshot-every-commands" => config.snapshot_every_commands = number(value()?)?,
                "--snapshot-every-seconds" => config.snapshot_every_seconds = number(value()?)?,
                other => return Err(format!("unknown argument {other}")),
            }
        }
        config.journal = journal.ok_or("--journal is required")?;
        if standby != config.standby_listen.is_some() {
            return Err("--standby and --listen go together".into());
        }
        if config.sync && config.replicate_to.is_none() {
            return Err("--sync needs --replicate-to".into());
        }
        if config.prefix.is_empty() || config.prefix.contains([' ', '*', '>']) {
            return Err(format!("bad subject prefix {:?}", config.prefix));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        Config::parse(&args, |key| env.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn test_flags_win_over_the_environment_and_defaults_fill_the_rest() {
        let config =
            parse(&["--journal", "j", "--prefix", "p"], &[("DERIVATIVES_NATS_URL", "nats://h:1"), ("DERIVATIVES_NATS_PREFIX", "e")])
                .unwrap();
        assert_eq!((config.nats_url.as_str(), config.prefix.as_str(), config.journal), ("nats://h:1", "p", PathBuf::from("j")));
        assert_eq!((config.snapshot_every_commands, config.snapshot_every_seconds, config.sync), (1_000_000, 600, false));
        let standby = parse(&["--journal", "j", "--standby", "--listen", "127.0.0.1:0", "--replicate-to", "x:1", "--sync"], &[]).unwrap();
        assert_eq!((standby.standby_listen.as_deref(), standby.sync), (Some("127.0.0.1:0"), true));
    }

    #[test]
    fn test_bad_arguments_are_named() {
        for (args, error) in [
            (&["--prefix", "p"][..], "--journal is required"),
            (&["--journal", "j", "--sync"][..], "--sync needs --replicate-to"),
            (&["--journal", "j", "--standby"][..], "--standby and --listen go together"),
            (&["--journal", "j", "--snapshot-every-commands", "x"][..], "--snapshot-every-commands: not a whole number: x"),
            (&["--journal"][..], "--journal needs a value"),
            (&["--bogus"][..], "unknown argument --bogus"),
            (&["--journal", "j", "--prefix", "a*"][..], "bad subject prefix \"a*\""),
        ] {
            assert_eq!(parse(args, &[]).unwrap_err(), error);
        }
    }
}
