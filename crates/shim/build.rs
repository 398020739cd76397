//! Links `containerd-shim-spin-v2` as a position-dependent executable.
//!
//! Every pod execs the shim once, and a PIE shim then relocates 1.7 MiB of
//! `.data.rel.ro` (vtables, static tables of pointers) in that process:
//! private pages its zygote and container process share but no other pod
//! does. Linked at a fixed address those pages stay the file's own, shared
//! by every pod on the node (rig, hello: 7.1 -> 4.9 MiB per further pod). The executable's
//! code and data lose ASLR; its libraries, stack, heap and every mapping
//! wasmtime makes (guest code and memories) keep it. See ARCHITECTURE.md.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
