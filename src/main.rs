fn main() -> std::process::ExitCode {
    bylaw::cli::main()
}
