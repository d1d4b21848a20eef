//! The `uic` binary: everything lives in the library; see `uic --help`.

fn main() -> std::process::ExitCode {
    uic::cli::main()
}
