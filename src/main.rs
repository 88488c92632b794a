//! The `rill` binary: see `rill --help`.

/// mimalloc instead of the system allocator: records with strings allocate per record, and
/// glibc's malloc spent over a quarter of the CSV window job's time in its own bookkeeping.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rill::cli::main()
}
