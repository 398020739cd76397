//! Manifest tests: whole `spin.toml` texts in, locks or exact error messages out.

use std::path::Path;

use serde_json::json;

use super::*;

const HEADER: &str = "spin_manifest_version = 2\n[application]\nname = \"sentinel-app\"\n";

fn app_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("static/sub")).unwrap();
    std::fs::write(dir.path().join("static/a.txt"), "a").unwrap();
    std::fs::write(dir.path().join("static/sub/b.txt"), "b").unwrap();
    dir
}

fn parse_in(dir: &Path, body: &str) -> Result<LockedApp> {
    parse_manifest(&format!("{HEADER}{body}"), "spin.toml", dir)
}

fn parse(body: &str) -> Result<LockedApp> {
    let dir = app_dir();
    parse_in(dir.path(), body)
}

fn error(body: &str) -> String {
    parse(body).unwrap_err().to_string()
}

const BASIC: &str = r#"
[application.trigger.http]
base = "/"

[variables]
who = { default = "world" }
token = { required = true, secret = true }

[[trigger.http]]
route = "/hello/..."
component = "api"

[[trigger.http]]
route = "/static"
static_response = { status_code = 201, body = "hi" }

[component.api]
source = "target/api.wasm"
description = "the api"
variables = { greeting = "hello {{ who }}" }
environment = { RUST_LOG = "{{ not_a_template }}" }
files = ["static/*.txt"]
allowed_outbound_hosts = ["https://example.com", "redis://{{ who }}.local"]
key_value_stores = ["default"]
sqlite_databases = ["default"]
ai_models = ["llama2-chat"]
"#;

#[test]
fn a_v2_manifest_lowers_to_the_expected_lock() {
    let dir = app_dir();
    let root = dir.path().canonicalize().unwrap();
    let app = parse_in(dir.path(), BASIC).unwrap();
    assert_eq!(app.name(), Some("sentinel-app"));
    assert_eq!(app.spin_lock_version, LockVersion::V0);
    assert_eq!(app.metadata["triggers"], json!({"http": {"base": "/"}}));
    assert_eq!(
        app.metadata["trigger"],
        json!({"type": "http", "base": "/"})
    );
    assert_eq!(
        app.metadata["origin"],
        json!(files::file_url(&root.join("spin.toml")))
    );
    assert_eq!(app.variables["who"].default.as_deref(), Some("world"));
    assert!(app.variables["token"].is_required() && app.variables["token"].secret);

    let ids: Vec<_> = app.triggers.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["api-http-trigger", "http-trigger1"]);
    assert_eq!(
        app.triggers[0].trigger_config,
        json!({"route": "/hello/...", "component": "api"})
    );
    assert!(HttpTriggerConfig::from_trigger(&app.triggers[1]).is_ok());

    let c = app.component("api").unwrap();
    assert_eq!(
        c.source.content.source.as_deref(),
        Some(files::file_url(&root.join("target/api.wasm")).as_str())
    );
    assert_eq!(c.source.content_type, "application/wasm");
    assert_eq!(c.config["greeting"], "hello {{ who }}");
    assert_eq!(c.env["RUST_LOG"], "{{ not_a_template }}");
    assert_eq!(c.files.len(), 1);
    assert_eq!(c.files[0].path, Path::new("/static/a.txt"));
    assert_eq!(c.description(), Some("the api"));
    assert_eq!(
        c.allowed_outbound_hosts(),
        ["https://example.com", "redis://{{ who }}.local"]
    );
    assert_eq!(c.key_value_stores(), ["default"]);
    assert_eq!(c.sqlite_databases(), ["default"]);
    assert_eq!(c.ai_models(), ["llama2-chat"]);
    assert!(c.host_requirements.is_empty());

    // The lock round-trips through JSON.
    let again = LockedApp::from_json(&app.to_json().unwrap(), "spin.lock").unwrap();
    assert_eq!(again.components, app.components);
    assert_eq!(again.triggers, app.triggers);
}

#[test]
fn trigger_ids_and_inline_components_are_normalised() {
    let app = parse(
        r#"
[[trigger.http]]
route = "/a"
component = "api"

[[trigger.http]]
route = "/b"
component = "api"

[[trigger.http]]
route = "/c"
component = { source = "inline.wasm" }

[[trigger.http]]
id = "named"
route = "/d"
component = { source = "named.wasm" }

[[trigger.redis]]
channel = "ch"
component = { source = "r.wasm" }

[component.api]
source = "api.wasm"
"#,
    )
    .unwrap();
    let ids: Vec<_> = app.triggers.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "api-http-trigger",
            "http-trigger1",
            "http-trigger2",
            "named",
            "redis-trigger1"
        ]
    );
    let components: Vec<_> = app.components.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        components,
        [
            "api",
            "http-trigger2-component",
            "named-component",
            "redis-trigger1-component"
        ]
    );
    assert_eq!(
        app.triggers[2].trigger_config["component"],
        "http-trigger2-component"
    );
    assert_eq!(
        app.triggers[4].trigger_config,
        json!({"channel": "ch", "component": "redis-trigger1-component"})
    );
    assert_eq!(app.metadata["triggers"], json!({"http": {}, "redis": {}}));
    assert!(app.metadata.get("trigger").is_none());
}

#[test]
fn service_chaining_hosts_add_host_requirements_and_version_one() {
    let app = parse(
        r#"
[[trigger.http]]
route = "/..."
component = "front"

[component.front]
source = "f.wasm"
allowed_outbound_hosts = ["http://*.spin.internal"]

[component.back]
source = "b.wasm"
allowed_outbound_hosts = ["http://front.spin.internal"]

[component.plain]
source = "p.wasm"
"#,
    )
    .unwrap();
    assert_eq!(
        app.must_understand,
        [MustUnderstand::ComponentHostRequirements]
    );
    assert_eq!(app.spin_lock_version, LockVersion::V1);
    for id in ["front", "back"] {
        assert_eq!(
            app.component(id).unwrap().host_requirements[LOCAL_SERVICE_CHAINING],
            "required"
        );
    }
    assert!(app.component("plain").unwrap().host_requirements.is_empty());
    let out: Value = serde_json::from_slice(&app.to_json().unwrap()).unwrap();
    assert_eq!(out["spin_lock_version"], 1);
}

#[test]
fn a_v1_manifest_is_upgraded_with_database_wildcards() {
    let dir = app_dir();
    let text = r#"
spin_manifest_version = "1"
name = "old-app"
version = "0.1.0"
trigger = { type = "http", base = "/" }

[[component]]
id = "My_Api"
source = "api.wasm"
allowed_http_hosts = ["example.com"]
config = { k = "v" }
[component.trigger]
route = "/..."
executor = { type = "wagi" }

[[component]]
id = "explicit"
source = "e.wasm"
allowed_outbound_hosts = ["https://x.com"]
[component.trigger]
route = "/e"
"#;
    let app = parse_manifest(text, "spin.toml", dir.path()).unwrap();
    assert_eq!(app.name(), Some("old-app"));
    assert_eq!(
        app.metadata["trigger"],
        json!({"type": "http", "base": "/"})
    );
    let ids: Vec<_> = app.triggers.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["trigger-my-api", "trigger-explicit"]);
    assert_eq!(app.triggers[0].trigger_config["component"], "my-api");
    let c = app.component("my-api").unwrap();
    assert_eq!(
        c.allowed_outbound_hosts(),
        [
            "redis://*:*",
            "mysql://*:*",
            "postgres://*:*",
            "http://example.com",
            "https://example.com"
        ]
    );
    assert_eq!(c.config["k"], "v");
    assert_eq!(
        app.component("explicit").unwrap().allowed_outbound_hosts(),
        ["https://x.com"]
    );
    let http = HttpTriggerConfig::from_trigger(&app.triggers[0]).unwrap();
    assert!(matches!(
        http.executor(),
        crate::http::HttpExecutor::Wagi { .. }
    ));

    let with_alias = text.replace("spin_manifest_version = \"1\"", "spin_version = \"1\"");
    assert!(parse_manifest(&with_alias, "spin.toml", dir.path()).is_ok());
}

#[test]
fn url_sources_keep_url_and_digest() {
    let app = parse(
        "[component.c]\nsource = { url = \"https://example.com/c.wasm\", digest = \"sha256:abc\" }\n",
    )
    .unwrap();
    let source = &app.components[0].source.content;
    assert_eq!(source.source.as_deref(), Some("https://example.com/c.wasm"));
    assert_eq!(source.digest.as_deref(), Some("sha256:abc"));
}

#[test]
fn templated_hosts_are_checked_with_defaults_when_they_resolve() {
    let ok = "[variables]\nreq = { required = true }\nhost = { default = \"\" }\n\
              [component.c]\nsource = \"c.wasm\"\nallowed_outbound_hosts = [\"{{ req }}\", \"https://{{ host }}\"]\n";
    assert!(parse(ok).is_ok());
    let bad = "[variables]\nhost = { default = \"nope\" }\n\
               [component.c]\nsource = \"c.wasm\"\nallowed_outbound_hosts = [\"{{ host }}\"]\n";
    assert_eq!(
        error(bad),
        "spin.toml: component \"c\": allowed_outbound_hosts: \"nope\": missing \"://\": entries look like \"https://example.com\"; to allow everything, use \"*://*:*\""
    );
}

#[test]
fn load_app_accepts_a_directory_a_manifest_or_a_lock() {
    let dir = app_dir();
    let manifest = dir.path().join("spin.toml");
    std::fs::write(
        &manifest,
        format!("{HEADER}[component.c]\nsource = \"c.wasm\"\n"),
    )
    .unwrap();
    let from_dir = load_app(dir.path()).unwrap();
    let from_file = load_app(&manifest).unwrap();
    assert_eq!(from_dir, from_file);
    let lock = dir.path().join("spin.lock");
    let mut relative = from_dir.clone();
    relative.components[0].source.content.source = Some("file:c.wasm".into());
    std::fs::write(&lock, relative.to_json().unwrap()).unwrap();
    let from_lock = load_app(&lock).unwrap();
    assert_eq!(
        from_lock.components[0].source.content.source.as_deref(),
        Some("file:c.wasm")
    );
    assert_eq!(
        load_app(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string()
            .split(": cannot read:")
            .next(),
        Some(
            dir.path()
                .join("missing.toml")
                .display()
                .to_string()
                .as_str()
        )
    );
}

#[test]
fn dependencies_lower_to_locked_sources_with_their_inheritance() {
    let dir = app_dir();
    let lock = parse_in(
        dir.path(),
        r#"
[component.api]
source = "api.wasm"
[component.api.dependencies]
"my:calc/adder@1.0.0" = { path = "deps/adder.wasm", export = "my:calc/add@1.0.0" }
"my:text" = { component = "text", inherit_configuration = ["files", "environment"] }
[component.text]
source = "text.wasm"
[component.other]
source = "other.wasm"
dependencies_inherit_configuration = true
[component.other.dependencies]
"my-lib" = { path = "lib.wasm" }
"#,
    )
    .unwrap();
    let json = serde_json::to_value(&lock.components).unwrap();
    let url = |path: &str| files::file_url(&dir.path().join(path));
    assert_eq!(
        json[0]["dependencies"],
        json!({
            "my:calc/adder@1.0.0": {
                "source": {"content_type": "application/wasm", "source": url("deps/adder.wasm")},
                "export": "my:calc/add@1.0.0"
            },
            "my:text": {
                "source": {"content_type": "application/wasm", "source": url("text.wasm")},
                "export": null,
                "inherit": {"Some": ["files", "environment"]}
            }
        })
    );
    assert_eq!(json[2]["dependencies"]["my-lib"]["inherit"], json!("All"));
    let back: Vec<LockedComponent> = serde_json::from_value(json).unwrap();
    assert_eq!(back, lock.components);
}

#[test]
fn user_errors_have_exact_messages() {
    let cases: &[(&str, &str)] = &[
        (
            "[component.api]\nsorce = \"x\"\n",
            "spin.toml: component \"api\": unknown field \"sorce\", expected one of \"source\", \"description\", \"variables\", \"environment\", \"files\", \"exclude_files\", \"allowed_outbound_hosts\", \"allowed_http_hosts\", \"key_value_stores\", \"sqlite_databases\", \"ai_models\", \"dependencies\", \"dependencies_inherit_configuration\", \"build\", \"targets\", \"tool\", \"profile\" (line 5, column 1)",
        ),
        (
            "[component.api]\nsource = 3\n",
            "spin.toml: component \"api\": source: invalid type: integer `3`, expected a string or a table (line 5, column 10)",
        ),
        (
            "[component.My_api]\nsource = \"x\"\n",
            "spin.toml: component \"My_api\": invalid component id \"My_api\": only ASCII letters, digits and '-' are allowed",
        ),
        (
            "[variables]\nfoo = {}\n",
            "spin.toml: variable \"foo\": must have either a default or required = true",
        ),
        (
            "[variables]\nfoo = { default = \"x\", required = true }\n",
            "spin.toml: variable \"foo\": must not have both a default and required = true",
        ),
        (
            "[variables]\nBad = { default = \"x\" }\n",
            "spin.toml: variable \"Bad\": invalid variable name \"Bad\": only lower-case letters, digits and '_' are allowed",
        ),
        (
            "[variables]\nfoo = { default = \"x\", secrett = true }\n",
            "spin.toml: variable \"foo\": unknown field \"secrett\", expected one of \"description\", \"default\", \"required\", \"secret\" (line 5, column 24)",
        ),
        (
            "[component.api]\nsource = \"x\"\nvariables = { greeting = \"{{ nope }}\" }\n",
            "spin.toml: component \"api\": variables.greeting: unknown application variable \"nope\"",
        ),
        (
            "[component.api]\nsource = \"x\"\nvariables = { greeting = \"{{ nope \" }\n",
            "spin.toml: component \"api\": variables.greeting: unclosed \"{{\" in \"{{ nope \"",
        ),
        (
            "[component.api]\nsource = \"x\"\nvariables = { Greeting = \"x\" }\n",
            "spin.toml: component \"api\": variables: invalid variable name \"Greeting\": only lower-case letters, digits and '_' are allowed",
        ),
        (
            "[component.api]\nsource = \"x\"\nfiles = [\"../x\"]\n",
            "spin.toml: component \"api\": files: \"../x\" escapes the application directory",
        ),
        (
            "[component.api]\nsource = \"x\"\nfiles = [\"nope.txt\"]\n",
            "spin.toml: component \"api\": files: \"nope.txt\" does not exist",
        ),
        (
            "[component.api]\nsource = \"x\"\nallowed_outbound_hosts = [\"*\"]\n",
            "spin.toml: component \"api\": allowed_outbound_hosts: \"*\": not a valid entry; to allow everything, use \"*://*:*\"",
        ),
        (
            "[component.api]\nsource = \"x\"\nallowed_http_hosts = [\"ftp://x\"]\n",
            "spin.toml: component \"api\": allowed_http_hosts: \"ftp://x\": allowed_http_hosts entries must use http or https",
        ),
        (
            "[component.api]\nsource = \"x\"\nkey_value_stores = [\"Bad Label\"]\n",
            "spin.toml: component \"api\": key_value_stores: invalid label \"Bad Label\": use lower-case letters, digits and '-' or '_' between words, starting with a letter",
        ),
        (
            "[component.api]\nsource = { package = \"a:b\", version = \"1.0.0\" }\n",
            "spin.toml: component \"api\": source: registry package sources are not supported yet",
        ),
        (
            "[component.api]\nsource = { url = \"https://x/y.wasm\" }\n",
            "spin.toml: component \"api\": source: missing field \"digest\"",
        ),
        (
            "[component.api]\nsource = \"x\"\n[component.api.dependencies]\n\"a:b/c\" = \"1.0\"\n",
            "spin.toml: component \"api\": dependencies.\"a:b/c\": registry dependencies are not supported yet",
        ),
        (
            "[component.api]\nsource = \"x\"\n[component.api.dependencies]\n\"a:b/c\" = { url = \"https://x/y.wasm\", digest = \"sha256:0\" }\n",
            "spin.toml: component \"api\": dependencies.\"a:b/c\": dependencies from a URL are not supported yet",
        ),
        (
            "[component.api]\nsource = \"x\"\n[component.api.dependencies]\n\"a:b/c@1.0\" = { path = \"d.wasm\" }\n",
            "spin.toml: component \"api\": dependencies.\"a:b/c@1.0\": \"a:b/c@1.0\" is not a valid package name: expected \"ns:pkg\", optionally followed by \"/interface\" and \"@version\" (a semantic version)",
        ),
        (
            "[component.api]\nsource = \"x\"\n[component.api.dependencies]\n\"a:b\" = { path = \"d.wasm\", component = \"lib\" }\n",
            "spin.toml: component \"api\": dependencies.\"a:b\": expected exactly one of \"path\", \"component\", \"url\" (with \"digest\") or \"version\"",
        ),
        (
            "[component.api]\nsource = \"x\"\n[component.api.dependencies]\n\"a:b\" = { component = \"lib\" }\n",
            "spin.toml: component \"api\": dependencies.\"a:b\": no component \"lib\" in this app",
        ),
        (
            "[component.api]\nsource = \"x\"\n[component.api.dependencies]\n\"a:b\" = { component = \"lib\" }\n[component.lib]\nsource = \"l.wasm\"\nenvironment = { A = \"1\" }\nkey_value_stores = [\"default\"]\n",
            "spin.toml: component \"api\": dependencies.\"a:b\": component \"lib\" cannot be a dependency: dependencies may not have their own resources or permissions, and it sets environment, key_value_stores",
        ),
        (
            "[component.api]\nsource = \"x\"\ndependencies_inherit_configuration = true\n[component.api.dependencies]\n\"a:b\" = { path = \"d.wasm\", inherit_configuration = [\"files\"] }\n",
            "spin.toml: component \"api\": dependencies.\"a:b\": \"dependencies_inherit_configuration\" and a dependency's \"inherit_configuration\" are mutually exclusive; use one or the other",
        ),
        (
            "[application.trigger.http]\nbase = \"/api\"\n",
            "spin.toml: application.trigger.http.base: \"/api\" is not supported: app-wide base paths were removed in Spin 3; remove it or use \"/\"",
        ),
        (
            "[[trigger.http]]\nroute = \"/\"\ncomponent = \"nope\"\n",
            "spin.toml: trigger.http[0]: component: component \"nope\" does not exist",
        ),
        (
            "[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\nbogus = 1\n[component.api]\nsource = \"x\"\n",
            "spin.toml: trigger.http[0]: unknown field \"bogus\", expected one of \"route\", \"component\", \"executor\", \"static_response\", \"id\", \"components\", \"dependencies\"",
        ),
        (
            "[[trigger.http]]\nroute = { private = false }\ncomponent = \"api\"\n[component.api]\nsource = \"x\"\n",
            "spin.toml: trigger.http[0]: route: private = false is not allowed: give a route string, or private = true",
        ),
        (
            "[[trigger.http]]\nroute = \"/a/.../b\"\ncomponent = \"api\"\n[component.api]\nsource = \"x\"\n",
            "spin.toml: trigger.http[0]: route: route \"/a/.../b\": a wildcard (\"...\" or \"*\") is only allowed as the last segment",
        ),
        (
            "[[trigger.http]]\nroute = \"/\"\n",
            "spin.toml: trigger.http[0]: exactly one of \"component\" or \"static_response\" is required",
        ),
        (
            "[[trigger.http]]\nroute = \"/\"\ncomponent = \"api\"\nexecutor = { type = \"cgi\" }\n[component.api]\nsource = \"x\"\n",
            "spin.toml: trigger.http[0]: executor: unknown executor type \"cgi\", expected one of \"http\", \"spin\", \"wagi\"",
        ),
        (
            "[[trigger.http]]\nroute = \"/\"\ncomponent = { source = \"x\", nope = 1 }\n",
            "spin.toml: trigger.http[0]: component: unknown field \"nope\", expected one of \"source\", \"description\", \"variables\", \"environment\", \"files\", \"exclude_files\", \"allowed_outbound_hosts\", \"allowed_http_hosts\", \"key_value_stores\", \"sqlite_databases\", \"ai_models\", \"dependencies\", \"dependencies_inherit_configuration\", \"build\", \"targets\", \"tool\", \"profile\" (line 6, column 29)",
        ),
        (
            "[[trigger.http]]\nid = \"x\"\nroute = \"/a\"\ncomponent = \"api\"\n[[trigger.http]]\nid = \"x\"\nroute = \"/b\"\ncomponent = \"api\"\n[component.api]\nsource = \"x\"\n",
            "spin.toml: trigger.http[1]: id: trigger id \"x\" is used more than once",
        ),
        (
            "[[trigger.redis]]\nchannel = \"{{ nope }}\"\ncomponent = \"api\"\n[component.api]\nsource = \"x\"\n",
            "spin.toml: trigger.redis[0]: channel: unknown application variable \"nope\"",
        ),
        (
            "bogus = 1\n",
            "spin.toml: application: unknown field \"bogus\", expected one of \"name\", \"version\", \"description\", \"authors\", \"targets\", \"tool\", \"trigger\" (line 4, column 1)",
        ),
    ];
    for (body, message) in cases {
        assert_eq!(error(body), *message, "{body}");
    }
}

#[test]
fn version_and_syntax_errors_have_exact_messages() {
    let dir = app_dir();
    let cases = [
        (
            "spin_manifest_version = 3\n",
            "spin.toml: spin_manifest_version: unsupported manifest version 3 (expected 2, or \"1\" for the old format)",
        ),
        ("[application]\nname = \"x\"\n", "spin.toml: missing field \"spin_manifest_version\""),
        (
            "spin_manifest_version = 2\nbogus = 1\n[application]\nname = \"x\"\n",
            "spin.toml: unknown field \"bogus\", expected one of \"spin_manifest_version\", \"application\", \"variables\", \"trigger\", \"component\" (line 2, column 1)",
        ),
        (
            "spin_manifest_version = 2\n",
            "spin.toml: missing field \"application\" (line 1, column 1)",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(
            parse_manifest(text, "spin.toml", dir.path())
                .unwrap_err()
                .to_string(),
            message
        );
    }
    let err = parse_manifest("a = = 1", "spin.toml", dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("spin.toml: ") && err.ends_with("(line 1, column 5)"),
        "{err}"
    );
}
