//! Composition fixture's dependency: exports `spinshim:demo/greeter`.
//! `greet(name)` is `"<GREETING>, <name>"`, GREETING coming from the
//! environment (default `hello`); `greet("ls")` lists the guest's `/`
//! instead (`files: a, b` or `no files`). So the dependency imports
//! wasi:cli/environment and wasi:filesystem/preopens, which it sees only
//! where it inherits `environment` and `files`.

wit_bindgen::generate!({
    path: "../composed/wit",
    world: "greeter-provider",
});

struct Greeter;

impl exports::spinshim::demo::greeter::Guest for Greeter {
    fn greet(name: String) -> String {
        if name == "ls" {
            let mut names: Vec<String> = std::fs::read_dir("/")
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            return if names.is_empty() {
                "no files".to_owned()
            } else {
                format!("files: {}", names.join(", "))
            };
        }
        let greeting = std::env::var("GREETING").unwrap_or_else(|_| "hello".to_owned());
        format!("{greeting}, {name}")
    }
}

export!(Greeter);
