//! Composition fixture: `GET /<name>` answers with what the `greeter`
//! dependency (images/greeter) says for `<name>`, then
//! `(greeted by a dependency)`.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

wit_bindgen::generate!({
    path: "wit",
    world: "greeter-user",
});

#[http_component]
fn handle(req: Request) -> impl IntoResponse {
    let name = req.path().trim_start_matches('/');
    let greeting = spinshim::demo::greeter::greet(name);
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(format!("{greeting} (greeted by a dependency)"))
        .build()
}
