//! The short run `make test` does on stable Rust: every file of a target's
//! committed corpus, then a fixed number of mutants of them made by a seeded
//! generator, so a run is repeatable. It is not coverage-guided; the deep runs
//! are cargo-fuzz's (`make fuzz`), whose findings and minimised corpora are
//! what gets committed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::Target;

/// Mutants are cut to this size: the readers' limits are not what is tested.
const MAX_INPUT: usize = 64 << 10;

/// Tokens the mutator inserts: the punctuation of TOML, JSON, routes and
/// host patterns, and values at the edges of what the readers accept.
const TOKENS: &[&str] = &[
    "..",
    "../",
    "/..",
    "/...",
    "/*",
    "/:",
    ":",
    "{{",
    "}}",
    "{{ x }}",
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    ",",
    "\n",
    "\n\n",
    "\\",
    "\\u0000",
    "\0",
    "*://",
    "://",
    "*.",
    ":*",
    "..=",
    "[::1]",
    "0.0.0.0/0",
    "::/0",
    "sha256:",
    "file://",
    "file:///",
    "/etc/passwd",
    "true",
    "-1",
    "0",
    "65536",
    "18446744073709551616",
    "1e309",
    "é",
    "\u{feff}",
    "spin_manifest_version = 2\n",
    "\"spin_lock_version\": 1",
    "[component.c]\n",
    "[[trigger.http]]\n",
    "files = [",
    "source = ",
    "destination = ",
    "route = ",
    "allowed_outbound_hosts = [",
    "\"inline\": \"",
    "\"digest\": \"",
    "\"path\": \"",
];

/// Bytes the mutator writes over others.
const BYTES: &[u8] = b"\0\xff/.\":*[]{}=\n";

/// What a run found: the input that failed and the panic's message.
#[derive(Debug)]
pub struct Finding {
    /// The failing input.
    pub input: Vec<u8>,
    /// The panic message.
    pub message: String,
}

/// How much a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Corpus files replayed.
    pub corpus: usize,
    /// Mutants tried.
    pub mutants: usize,
}

/// Reads every file of `dir` (sorted by name, so runs are repeatable).
pub fn read_corpus(dir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    paths.iter().map(std::fs::read).collect()
}

/// Runs `target` on each of `corpus`, then on `mutants` inputs mutated from it
/// with the generator seeded by `seed`; stops at the first failure.
pub fn run(
    target: Target,
    corpus: &[Vec<u8>],
    mutants: usize,
    seed: u64,
) -> Result<Summary, Finding> {
    for input in corpus {
        check(target, input)?;
    }
    let mut rng = Rng::new(seed);
    let mut summary = Summary {
        corpus: corpus.len(),
        mutants: 0,
    };
    if corpus.is_empty() {
        return Ok(summary);
    }
    for _ in 0..mutants {
        let input = mutate(&mut rng, corpus);
        check(target, &input)?;
        summary.mutants += 1;
    }
    Ok(summary)
}

fn check(target: Target, input: &[u8]) -> Result<(), Finding> {
    catch_unwind(AssertUnwindSafe(|| target(input))).map_err(|panic| Finding {
        input: input.to_vec(),
        message: panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned()),
    })
}

/// One to four mutations of a corpus entry.
fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut input = corpus[rng.below(corpus.len())].clone();
    for _ in 0..=rng.below(4) {
        match rng.below(8) {
            0 if !input.is_empty() => {
                let at = rng.below(input.len());
                input[at] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let at = rng.below(input.len());
                input[at] = BYTES[rng.below(BYTES.len())];
            }
            2 | 3 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, token.iter().copied());
            }
            4 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + 1 + rng.below(16)).min(input.len());
                input.drain(start..end);
            }
            5 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + 1 + rng.below(32)).min(input.len());
                let chunk = input[start..end].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, chunk);
            }
            6 => {
                let other = &corpus[rng.below(corpus.len())];
                let keep = rng.below(input.len() + 1);
                let from = rng.below(other.len() + 1);
                input.truncate(keep);
                input.extend_from_slice(&other[from..]);
            }
            _ => {
                let keep = rng.below(input.len() + 1);
                input.truncate(keep);
            }
        }
    }
    input.truncate(MAX_INPUT);
    input
}

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails_on_a_capital(input: &[u8]) {
        assert!(!input.contains(&b'A'), "found an A");
    }

    #[test]
    fn a_run_reports_the_input_that_failed() {
        let finding = run(fails_on_a_capital, &[b"aaaa".to_vec()], 100_000, 7).unwrap_err();
        assert!(finding.input.contains(&b'A'));
        assert_eq!(finding.message, "found an A");
    }

    #[test]
    fn runs_are_repeatable() {
        let corpus = [b"route = \"/a/...\"".to_vec(), b"{}".to_vec()];
        let mut rng_a = Rng::new(42);
        let mut rng_b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(mutate(&mut rng_a, &corpus), mutate(&mut rng_b, &corpus));
        }
    }
}
