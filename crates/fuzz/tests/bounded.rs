//! The bounded fuzz run of `make test`: each target on its committed corpus
//! (`fuzz/corpus/<target>`), then mutants of it. `SPINSHIM_FUZZ_MUTANTS` sets
//! how many (default 5,000 a target) and `SPINSHIM_FUZZ_SEED` the generator's
//! seed; a failure saves its input under `target/fuzz-findings/` and names it.

use spinshim_fuzz::{bounded, corpus_dir, TARGETS};

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

fn run_target(name: &str) {
    let target = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .expect("a known target");
    let dir = corpus_dir(name);
    let corpus = bounded::read_corpus(&dir)
        .unwrap_or_else(|err| panic!("reading the corpus {}: {err}", dir.display()));
    assert!(!corpus.is_empty(), "the corpus {} is empty", dir.display());
    let mutants = env_number("SPINSHIM_FUZZ_MUTANTS", 5_000) as usize;
    let seed = env_number("SPINSHIM_FUZZ_SEED", 0x5eed_f022);
    match bounded::run(target, &corpus, mutants, seed) {
        Ok(summary) => eprintln!(
            "{name}: {} corpus inputs and {} mutants (seed {seed:#x}) passed",
            summary.corpus, summary.mutants
        ),
        Err(finding) => {
            let dir =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-findings");
            std::fs::create_dir_all(&dir).expect("creating target/fuzz-findings");
            let path = dir.join(format!("{name}-{seed:x}"));
            std::fs::write(&path, &finding.input).expect("saving the finding");
            panic!(
                "{name}: {}\ninput saved to {} ({:?})",
                finding.message,
                path.display(),
                String::from_utf8_lossy(&finding.input)
            );
        }
    }
}

#[test]
fn manifest() {
    run_target("manifest");
}

#[test]
fn lock() {
    run_target("lock");
}

#[test]
fn runtime_config() {
    run_target("runtime_config");
}

#[test]
fn route() {
    run_target("route");
}

#[test]
fn outbound() {
    run_target("outbound");
}

#[test]
fn oci_layers() {
    run_target("oci_layers");
}
