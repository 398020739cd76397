//! The test rig itself (scripts/rig.sh): both containerds answer with the
//! expected major versions, with the spin runtime and the pause image in
//! place, the registry answers the distribution API, and the rig fetches
//! Debian packages from the archive the machine's apt sources name.

use spinshim_tests::rig::{Containerd, Rig};

/// The server version `ctr version` reports.
fn server_version(which: Containerd) -> String {
    let out = Rig::get().ctr_ok(which, ["version"]);
    out.split("Server:")
        .nth(1)
        .and_then(|server| {
            server
                .lines()
                .find_map(|l| l.trim().strip_prefix("Version:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no server version in `ctr version` ({which}):\n{out}"))
}

fn check_containerd(which: Containerd) {
    let rig = Rig::get();
    let version = server_version(which);
    let major = format!("{}.", which.major());
    assert!(
        version.starts_with(&major),
        "{which} reports version {version}, expected {major}x"
    );
    assert_eq!(
        version,
        rig.containerd(which).version(),
        "{which}: server version and the rig env file disagree"
    );

    // The pod sandbox image CRI uses is already there.
    let images = rig.ctr_ok(which, ["-n", "k8s.io", "images", "ls", "-q"]);
    assert!(
        images.lines().any(|l| l == rig.pause_image()),
        "{which}: pause image {} not in namespace k8s.io:\n{images}",
        rig.pause_image()
    );

    // Its config has the spin runtime, from the deployment snippet.
    if let Some(config) = rig.containerd(which).config() {
        let text = std::fs::read_to_string(config).unwrap();
        assert!(
            text.contains("runtime_type") && text.contains("io.containerd.spin.v2"),
            "{which}: no spin runtime in {}",
            config.display()
        );
    }
}

#[test]
fn containerd_1_7_answers() {
    check_containerd(Containerd::V1_7);
}

#[test]
fn containerd_2_answers() {
    check_containerd(Containerd::V2);
}

#[test]
fn shim_under_test_is_on_containerd_path() {
    let shim = Rig::get().shim_dir().join("containerd-shim-spin-v2");
    let meta = std::fs::metadata(&shim).unwrap_or_else(|e| panic!("{}: {e}", shim.display()));
    assert!(meta.is_file(), "{} is not a file", shim.display());
}

#[tokio::test]
async fn registry_answers_v2() {
    let rig = Rig::get();
    let addr = rig.registry().parse().expect("registry is host:port");
    let reply = spinshim_tests::get(addr, "/v2/").await.unwrap();
    assert_eq!(reply.status, 200, "GET /v2/: {}", reply.text());
    assert_eq!(
        reply.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
}

/// What `apt_debian_mirror` (scripts/rig/lib.sh) answers for apt sources
/// `files` (name, contents) in a scratch `/etc/apt`.
fn mirror_for(files: &[(&str, &str)]) -> String {
    let etc = tempfile::tempdir().unwrap();
    std::fs::create_dir(etc.path().join("sources.list.d")).unwrap();
    for (name, text) in files {
        std::fs::write(etc.path().join(name), text).unwrap();
    }
    let lib = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/rig/lib.sh");
    let out = std::process::Command::new("bash")
        .args(["-c", &format!(". {lib} && apt_debian_mirror")])
        .env("APT_ETC", etc.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn the_debian_mirror_comes_from_the_apt_sources() {
    let security = "Types: deb\nURIs: http://sec.example/debian-security\n\
                    Suites: bookworm-security\nComponents: main\n\
                    Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n";
    let archive = "Types: deb\nURIs: http://mirror.example/debian/\n\
                   Suites: bookworm bookworm-updates\nComponents: main\n";
    let other = "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\n\
                 Suites: nodistro\nComponents: main\n";
    assert_eq!(
        mirror_for(&[
            ("sources.list.d/other.sources", other),
            (
                "sources.list.d/debian.sources",
                &format!("{security}{archive}")
            ),
        ]),
        "http://mirror.example/debian"
    );
    let one_line = "# a comment\n\
        deb http://security.debian.org/debian-security bookworm-security main\n\
        deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://proxy.example:3142/deb bookworm main\n";
    assert_eq!(
        mirror_for(&[("sources.list", one_line)]),
        "http://proxy.example:3142/deb"
    );
    assert_eq!(
        mirror_for(&[("sources.list.d/other.sources", other)]),
        "http://deb.debian.org/debian"
    );
}
