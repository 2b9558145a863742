//! `derivatives-engine`: the engine service (see the library documentation and `--help`).

use derivatives_engine_service::config::{Config, USAGE};
use derivatives_engine_service::{log, service};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let config = match Config::parse(&args, |key| std::env::var(key).ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
    if let Err(e) = runtime.block_on(service::run(config)) {
        log::error("engine service failed", serde_json::json!({"error": e}));
        std::process::exit(1);
    }
}
