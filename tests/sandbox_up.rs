//! What a guest reaches of the host through `spinshim up`: the files it was
//! given and nothing around them (`..`, absolute host paths, symbolic links),
//! and its own environment, never the host's. The `images/faults` guest
//! reads, lists and reports on request.

use std::path::Path;

use anyhow::Result;
use spinshim_tests::assertions::{assert_start_fails, wasm};
use spinshim_tests::{free_port, get, Up};

/// Set in `spinshim up`'s own environment; the guest must not see it.
const HOST_SECRET: (&str, &str) = ("SPINSHIM_HOST_SECRET", "host-only-value");

/// How the app reaches `spinshim up`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// `spin.toml` mounting `assets/` at `/`: its files are staged one by one.
    Manifest,
    /// The same plus `extra.txt`.
    ManifestWithExtra,
    /// A lock mounting the `assets/` directory itself at `/`, as the shim
    /// mounts an artifact's files: the guest works in the host's directory.
    DirectMount,
}

/// An app directory: `assets/` mounted at `/` (see [`Layout`]), and
/// `secret.txt` beside it, not mounted. Returns the directory and what to
/// pass to `--from`.
fn sandbox_app(layout: Layout) -> Result<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    std::fs::create_dir_all(root.join("assets/nested"))?;
    std::fs::write(root.join("assets/inside.txt"), "inside")?;
    std::fs::write(root.join("assets/nested/deep.txt"), "deep")?;
    std::fs::write(root.join("extra.txt"), "extra")?;
    std::fs::write(root.join("secret.txt"), "app secret")?;
    let extra = if layout == Layout::ManifestWithExtra {
        ", \"extra.txt\""
    } else {
        ""
    };
    std::fs::write(
        root.join("spin.toml"),
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"sandbox\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"faults\"\n\
             [component.faults]\nsource = \"{}\"\n\
             files = [{{ source = \"assets\", destination = \"/\" }}{extra}]\n\
             environment = {{ GIVEN = \"yes\" }}\n",
            wasm("faults.wasm").display()
        ),
    )?;
    let root = root.canonicalize()?;
    if layout != Layout::DirectMount {
        return Ok((dir, root));
    }
    let file_url = |path: &Path| format!("file://{}", path.display());
    let lock = serde_json::json!({
        "spin_lock_version": 1,
        "metadata": {"name": "sandbox", "triggers": {"http": {}}},
        "triggers": [{"id": "t", "trigger_type": "http",
                      "trigger_config": {"route": "/...", "component": "faults"}}],
        "components": [{
            "id": "faults",
            "source": {"content_type": "application/wasm", "source": file_url(&wasm("faults.wasm"))},
            "env": {"GIVEN": "yes"},
            "files": [{"source": file_url(&root.join("assets")), "path": "/"}]
        }]
    });
    let lock_path = root.join("spin.lock");
    std::fs::write(&lock_path, serde_json::to_vec_pretty(&lock)?)?;
    Ok((dir, lock_path))
}

async fn read(up: &Up, path: &str) -> Result<(u16, String)> {
    let reply = get(up.addr, &format!("/read?p={path}")).await?;
    Ok((reply.status, reply.text()))
}

/// Asserts the guest cannot read `path`.
async fn assert_unreadable(up: &Up, path: &str) -> Result<()> {
    let (status, text) = read(up, path).await?;
    assert_eq!(status, 404, "the guest read {path}: {text}");
    assert!(!text.contains("app secret"), "{path}: {text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_reads_its_files_and_nothing_around_them() -> Result<()> {
    for layout in [
        Layout::Manifest,
        Layout::ManifestWithExtra,
        Layout::DirectMount,
    ] {
        let (dir, from) = sandbox_app(layout)?;
        let root = dir.path().canonicalize()?;
        let up = Up::start(&from, &[], &[HOST_SECRET])?;
        assert_eq!(read(&up, "/inside.txt").await?, (200, "inside".into()));
        assert_eq!(read(&up, "/nested/deep.txt").await?, (200, "deep".into()));
        let listing = get(up.addr, "/list?p=/").await?.text();
        let expected = if layout == Layout::ManifestWithExtra {
            "extra.txt\ninside.txt\nnested"
        } else {
            "inside.txt\nnested"
        };
        assert_eq!(listing, expected, "{layout:?}");
        let secret = root.join("secret.txt");
        for path in [
            "/../secret.txt",
            "../secret.txt",
            "/nested/../../secret.txt",
            secret.to_str().expect("a UTF-8 path"),
            "/etc/hostname",
            "/proc/self/environ",
        ] {
            assert_unreadable(&up, path).await?;
        }
        if layout == Layout::DirectMount {
            // A directly mounted directory is the host's own: links put
            // there while the app runs still lead nowhere.
            std::os::unix::fs::symlink("/etc", root.join("assets/late-etc"))?;
            std::os::unix::fs::symlink("..", root.join("assets/late-up"))?;
            std::fs::write(root.join("assets/late.txt"), "late")?;
            assert_eq!(read(&up, "/late.txt").await?, (200, "late".into()));
            assert_unreadable(&up, "/late-etc/hostname").await?;
            assert_unreadable(&up, "/late-up/secret.txt").await?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_sees_its_own_environment_not_the_hosts() -> Result<()> {
    let (dir, from) = sandbox_app(Layout::ManifestWithExtra)?;
    let root = dir.path().canonicalize()?;
    let up = Up::start(&from, &[], &[HOST_SECRET])?;
    let report = get(up.addr, "/env").await?.text();
    let env: Vec<&str> = report.lines().filter(|l| l.starts_with("env ")).collect();
    assert_eq!(env, ["env GIVEN=yes"], "the guest's environment:\n{report}");
    let root_text = root.display().to_string();
    for line in report.lines() {
        assert!(
            !line.contains(&root_text),
            "a host path reached the guest: {line}"
        );
        assert!(
            !line.contains(HOST_SECRET.1),
            "the host's environment reached the guest: {line}"
        );
    }
    Ok(())
}

#[test]
fn a_symbolic_link_out_of_a_mounted_tree_stops_the_start_naming_it() -> Result<()> {
    let (dir, from) = sandbox_app(Layout::Manifest)?;
    let root = dir.path().canonicalize()?;
    std::os::unix::fs::symlink("/etc", root.join("assets/host-etc"))?;
    let addr = format!("127.0.0.1:{}", free_port()).parse()?;
    let etc = Path::new("/etc").canonicalize()?;
    assert_start_fails(
        &from,
        addr,
        &[],
        &[
            "component \"faults\": files",
            &format!(
                "assets/host-etc is a symbolic link to {}, outside \"assets\"",
                etc.display()
            ),
        ],
    )?;
    Ok(())
}
