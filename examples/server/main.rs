//! The example authorization server's entry point; the server is the
//! package's library (`lib.rs`), so that `cargo test` runs its unit tests and
//! still builds this binary for the tests that start it.

fn main() -> std::process::ExitCode {
    tower_dcr_server::main()
}
