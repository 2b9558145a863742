//! Structured log lines: one JSON object per line on stderr, `{"ts_ms", "level", "msg", ...}`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

fn line(level: &str, msg: &str, fields: Value) {
    let mut object = Map::new();
    let ts_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    object.insert("ts_ms".into(), Value::from(u64::try_from(ts_ms).unwrap_or(u64::MAX)));
    object.insert("level".into(), Value::from(level));
    object.insert("msg".into(), Value::from(msg));
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
    let mut text = Value::Object(object).to_string();
    text.push('\n');
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// An informational line.
pub fn info(msg: &str, fields: Value) {
    line("info", msg, fields);
}

/// Something is wrong but the service goes on (and retries).
pub fn warn(msg: &str, fields: Value) {
    line("warn", msg, fields);
}

/// The service cannot go on.
pub fn error(msg: &str, fields: Value) {
    line("error", msg, fields);
}
