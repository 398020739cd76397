//! Command-trigger fixture: a job. It prints its arguments, one line
//! `args: a b c`, and `env GREETING=<value>` from the component's
//! environment, then ends as its arguments say:
//!
//! * `exit=N`: exits with code N (`wasi:cli/exit@0.2.12` exit-with-code)
//! * `fail`: `main` returns an error (exit code 1)
//! * `trap`: panics (a trap)
//! * `sleep=MS`: sleeps first
//!
//! and otherwise ends normally (exit code 0).

use std::time::Duration;

wit_bindgen::generate!({
    path: "wit",
    world: "job",
    generate_all,
});

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    println!("args: {}", args.join(" "));
    println!(
        "env GREETING={}",
        std::env::var("GREETING").unwrap_or_default()
    );
    for arg in &args[1..] {
        if let Some(ms) = arg.strip_prefix("sleep=") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
        }
    }
    for arg in &args[1..] {
        match arg.as_str() {
            "fail" => return Err("failing as asked".into()),
            "trap" => panic!("trapping as asked"),
            _ => {}
        }
        if let Some(code) = arg.strip_prefix("exit=") {
            wasi::cli::exit::exit_with_code(code.parse().unwrap_or(255));
        }
    }
    println!("done");
    Ok(())
}
