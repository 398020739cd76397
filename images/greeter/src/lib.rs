//! Composition fixture's dependency: exports `spinshim:demo/greeter`.
//! `greet(name)` is `"<GREETING>, <name>"`, GREETING coming from the
//! environment (default `hello`); `greet("ls")` lists the guest's `/`
//! instead (`files: a, b` or `no files`); `greet("var")` reads the
//! variable `greeting` and `greet("kv")` opens the `default` store,
//! answering with the value or the error. So the dependency imports
//! wasi:cli/environment, wasi:filesystem/preopens, fermyon:spin/variables
//! and fermyon:spin/key-value, which it reaches only where it inherits
//! `environment`, `files`, `variables` and `key_value_stores`.

wit_bindgen::generate!({
    path: "../composed/wit",
    world: "greeter-provider",
    generate_all,
});

struct Greeter;

impl exports::spinshim::demo::greeter::Guest for Greeter {
    fn greet(name: String) -> String {
        if name == "var" {
            return match fermyon::spin::variables::get("greeting") {
                Ok(value) => format!("variable: {value}"),
                Err(err) => format!("variable error: {err:?}"),
            };
        }
        if name == "kv" {
            return match fermyon::spin::key_value::Store::open("default") {
                Ok(_) => "store opened".to_owned(),
                Err(err) => format!("store error: {err:?}"),
            };
        }
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
