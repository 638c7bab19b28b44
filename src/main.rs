fn main() {
    std::process::exit(wsfp::cli::main());
}
