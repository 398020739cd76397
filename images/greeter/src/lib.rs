//! Composition fixture's dependency: exports `spinshim:demo/greeter`.
//! `greet(name)` is `"<GREETING>, <name>"`, GREETING coming from the
//! environment (default `hello`), so the dependency imports
//! wasi:cli/environment and runs only where it inherits `environment`.

wit_bindgen::generate!({
    path: "../composed/wit",
    world: "greeter-provider",
});

struct Greeter;

impl exports::spinshim::demo::greeter::Guest for Greeter {
    fn greet(name: String) -> String {
        let greeting = std::env::var("GREETING").unwrap_or_else(|_| "hello".to_owned());
        format!("{greeting}, {name}")
    }
}

export!(Greeter);
