//! The `aurora` binary: see `aurora --help` and the crate's README.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(aurora_cli::run(std::env::args_os()))
}
