//! The aggregator is not built yet; its issue follows the exporter's.

fn main() -> std::process::ExitCode {
    eprintln!("pakiti-aggregator: not implemented yet in this version; run pakiti-exporter on each host meanwhile");
    std::process::ExitCode::from(2)
}
