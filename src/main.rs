//! The `rill` binary: see `rill --help`.

fn main() -> std::process::ExitCode {
    rill::cli::main()
}
