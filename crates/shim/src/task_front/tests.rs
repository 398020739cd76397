use super::*;
use containerd_shim_protos::api::{ConnectRequest, StateResponse};
use containerd_shim_protos::shim_sync::{create_task, Task, TaskClient};
use containerd_shim_protos::ttrpc::{self, context, TtrpcContext};

/// A task service that knows one task, `c1`, and implements only `State`:
/// the rest get ttrpc's default answer, as `Pids` does from runwasi's.
struct OneTask;

impl Task for OneTask {
    fn state(&self, _ctx: &TtrpcContext, req: StateRequest) -> ttrpc::Result<StateResponse> {
        if req.id == "c1" {
            Ok(StateResponse {
                id: req.id,
                pid: 4242,
                ..Default::default()
            })
        } else {
            Err(ttrpc::Error::RpcStatus(ttrpc::get_status(
                Code::NOT_FOUND,
                format!("{} not found", req.id),
            )))
        }
    }
}

fn code_of(err: ttrpc::Error) -> Code {
    match err {
        ttrpc::Error::RpcStatus(status) => status.code.enum_value_or_default(),
        other => panic!("not a status: {other:?}"),
    }
}

#[test]
fn pids_is_answered_from_the_tasks_state_and_all_else_is_relayed() {
    let dir = tempfile::tempdir().unwrap();
    let containerds = dir.path().join("s");
    let service = service_socket_beside(&containerds);
    let mut server = ttrpc::Server::new()
        .bind(&format!("unix://{}", service.display()))
        .unwrap()
        .register_service(create_task(Arc::new(Box::new(OneTask))));
    server.start().unwrap();
    let outer = UnixListener::bind(&containerds).unwrap();
    thread::spawn(move || accept_loop(outer, service));

    let client = TaskClient::new(
        ttrpc::Client::connect(&format!("unix://{}", containerds.display())).unwrap(),
    );
    let pids = |id: &str| {
        let request = PidsRequest {
            id: id.into(),
            ..Default::default()
        };
        client.pids(context::with_timeout(0), &request)
    };
    let processes: Vec<u32> = pids("c1")
        .unwrap()
        .processes
        .iter()
        .map(|process| process.pid)
        .collect();
    assert_eq!(processes, [4242]);
    assert_eq!(code_of(pids("gone").unwrap_err()), Code::NOT_FOUND);

    // Everything else reaches the service, answers and errors alike.
    let state = StateRequest {
        id: "c1".into(),
        ..Default::default()
    };
    assert_eq!(
        client.state(context::with_timeout(0), &state).unwrap().pid,
        4242
    );
    let connect = ConnectRequest {
        id: "c1".into(),
        ..Default::default()
    };
    let err = client
        .connect(context::with_timeout(0), &connect)
        .unwrap_err();
    let ttrpc::Error::RpcStatus(status) = err else {
        panic!("not a status: {err:?}")
    };
    assert_eq!(
        status.message,
        "/containerd.task.v2.Task/Connect is not supported"
    );
    server.shutdown();
}

#[test]
fn the_service_socket_sits_beside_containerds() {
    assert_eq!(
        service_socket_beside(Path::new("/run/containerd/s/ab12")),
        Path::new("/run/containerd/s/ab12.runwasi")
    );
}
