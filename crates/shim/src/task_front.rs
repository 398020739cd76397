//! containerd's end of the shim's socket, in front of runwasi's task service.
//!
//! runwasi 1.0's task service leaves `Pids` out (ttrpc's default answer,
//! NotFound "is not supported"). A restarted containerd asks every shim it
//! finds for its task's processes and takes a shim that names none for one
//! leaked during a create (containerd#6866): it deletes the task and
//! forgets the shim, so the pod keeps serving with nobody to stop it.
//! runwasi's service is private to its crate, so the serving shim puts this
//! front on the socket containerd connects to. It relays every ttrpc frame
//! between containerd and runwasi's service as it is, and answers `Pids`
//! itself from the task's state, as runc's shim would: the task's process,
//! or the service's own error for an unknown id.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::{Context as _, Result};
use containerd_shim_protos::api::{PidsRequest, PidsResponse, ProcessInfo, StateRequest};
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::ttrpc::proto::{
    MESSAGE_HEADER_LENGTH, MESSAGE_LENGTH_MAX, MESSAGE_TYPE_REQUEST, MESSAGE_TYPE_RESPONSE,
};
use containerd_shim_protos::ttrpc::{Code, MessageHeader, Request, Response, Status};

/// The listening socket containerd's `start` hands the serving shim.
const SOCKET_FD: RawFd = 3;

const TASK_SERVICE: &str = "containerd.task.v2.Task";

/// How long a `Pids` answer may wait for the task's state.
const STATE_TIMEOUT: Duration = Duration::from_secs(10);

/// The relay threads only move frames; they need little stack.
const RELAY_STACK: usize = 256 * 1024;

/// The front of a serving shim: the socket runwasi's service now listens
/// on, removed when the shim ends.
pub struct TaskFront {
    service_socket: PathBuf,
}

impl Drop for TaskFront {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.service_socket);
    }
}

impl TaskFront {
    /// In the serving shim (containerd's socket on fd 3), moves runwasi's
    /// service to a socket of its own beside containerd's and starts the
    /// relay; anything else (`start`, `delete`, `-v`) is left alone.
    ///
    /// Called before runwasi starts: its zygote must be forked while the
    /// process has one thread, so it is forked here first (a process makes
    /// it once), holding the same descriptors it would under runwasi alone.
    pub fn install() -> Option<TaskFront> {
        if !is_listening_socket(SOCKET_FD) {
            return None;
        }
        zygote::Zygote::init();
        let outer = containerds_listener()?;
        match Self::put_in_front(outer) {
            Ok(front) => Some(front),
            Err(err) => {
                // The shim still serves containerd directly, as runwasi
                // alone would; only a containerd restart is not survived.
                log_to_containerd(&format!(
                    "task front not installed, runwasi serves containerd directly: {err:#}"
                ));
                None
            }
        }
    }

    fn put_in_front(outer: UnixListener) -> Result<TaskFront> {
        let outer_path = outer
            .local_addr()
            .context("reading containerd's socket address")?
            .as_pathname()
            .context("containerd's socket has no path")?
            .to_owned();
        let service_socket = service_socket_beside(&outer_path);
        let _ = std::fs::remove_file(&service_socket);
        let service = UnixListener::bind(&service_socket)
            .with_context(|| format!("binding {}", service_socket.display()))?;
        let front = TaskFront { service_socket };
        std::fs::set_permissions(
            &front.service_socket,
            std::fs::Permissions::from_mode(0o600),
        )
        .with_context(|| format!("restricting {}", front.service_socket.display()))?;
        // runwasi's server takes fd 3 as its listener.
        if unsafe { libc::dup2(service.as_raw_fd(), SOCKET_FD) } < 0 {
            return Err(io::Error::last_os_error()).context("moving the task service to fd 3");
        }
        drop(service);
        let service_socket = front.service_socket.clone();
        thread::Builder::new()
            .name("task-front".into())
            .stack_size(RELAY_STACK)
            .spawn(move || accept_loop(outer, service_socket))
            .context("starting the task front")?;
        Ok(front)
    }
}

/// Where the front puts runwasi's service: beside containerd's socket, in
/// the directory containerd keeps for shim sockets (short paths, root's).
pub fn service_socket_beside(containerds_socket: &Path) -> PathBuf {
    let mut name = containerds_socket.as_os_str().to_owned();
    name.push(".runwasi");
    PathBuf::from(name)
}

/// A line in containerd's log before runwasi has set up the shim's logger:
/// the `log` pipe containerd reads in the bundle directory, the shim's
/// working directory.
fn log_to_containerd(line: &str) {
    use std::os::unix::fs::OpenOptionsExt as _;
    let pipe = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("log");
    if let Ok(mut pipe) = pipe {
        let _ = writeln!(pipe, "{line}");
    }
}

/// containerd's listener on a descriptor of its own, leaving fd 3 free
/// for runwasi's service.
fn containerds_listener() -> Option<UnixListener> {
    let copy = unsafe { libc::fcntl(SOCKET_FD, libc::F_DUPFD_CLOEXEC, SOCKET_FD + 1) };
    if copy < 0 {
        return None;
    }
    Some(UnixListener::from(unsafe { OwnedFd::from_raw_fd(copy) }))
}

fn is_listening_socket(fd: RawFd) -> bool {
    let mut accepting: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let ok = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut accepting as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    ok == 0 && accepting == 1
}

fn accept_loop(outer: UnixListener, service_socket: PathBuf) {
    for client in outer.incoming() {
        let client = match client {
            Ok(client) => client,
            Err(err) => {
                log::warn!("task front: accepting containerd's connection: {err}");
                continue;
            }
        };
        let service_socket = service_socket.clone();
        let spawned = thread::Builder::new()
            .name("task-front-in".into())
            .stack_size(RELAY_STACK)
            .spawn(move || {
                if let Err(err) = relay(client, &service_socket) {
                    log::warn!("task front: {err:#}");
                }
            });
        if let Err(err) = spawned {
            log::error!("task front: no thread for containerd's connection: {err}");
        }
    }
}

/// One ttrpc frame: header and payload.
struct Frame {
    header: MessageHeader,
    payload: Vec<u8>,
}

impl Frame {
    /// The next frame, or `None` at a clean end of the stream.
    fn read_from(stream: &mut impl Read) -> io::Result<Option<Frame>> {
        let mut header = [0u8; MESSAGE_HEADER_LENGTH];
        match stream.read_exact(&mut header) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(err) => return Err(err),
        }
        let header = MessageHeader::from(&header);
        // The same bound both ends of ttrpc keep.
        if header.length as usize > MESSAGE_LENGTH_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a frame of {} bytes", header.length),
            ));
        }
        let mut payload = vec![0u8; header.length as usize];
        stream.read_exact(&mut payload)?;
        Ok(Some(Frame { header, payload }))
    }

    /// Header and payload in one write, so frames never interleave.
    fn write_to(&self, stream: &mut impl Write) -> io::Result<()> {
        let mut bytes: Vec<u8> = self.header.into();
        bytes.extend_from_slice(&self.payload);
        stream.write_all(&bytes)
    }
}

/// Relays one containerd connection until either side closes it.
fn relay(client: UnixStream, service_socket: &Path) -> Result<()> {
    let service = UnixStream::connect(service_socket)
        .with_context(|| format!("connecting to {}", service_socket.display()))?;
    let to_client = Arc::new(Mutex::new(client.try_clone()?));
    let answers = {
        let mut from_service = service.try_clone()?;
        let to_client = Arc::clone(&to_client);
        thread::Builder::new()
            .name("task-front-out".into())
            .stack_size(RELAY_STACK)
            .spawn(move || -> io::Result<()> {
                while let Some(frame) = Frame::read_from(&mut from_service)? {
                    frame.write_to(&mut *to_client.lock().unwrap())?;
                }
                // runwasi's service went away: so does containerd's end.
                to_client.lock().unwrap().shutdown(std::net::Shutdown::Both)
            })?
    };
    let mut from_client = client;
    let mut to_service = service;
    let outcome = (|| -> io::Result<()> {
        while let Some(frame) = Frame::read_from(&mut from_client)? {
            match answer_here(&frame, service_socket) {
                Some(reply) => reply.write_to(&mut *to_client.lock().unwrap())?,
                None => frame.write_to(&mut to_service)?,
            }
        }
        Ok(())
    })();
    let _ = to_service.shutdown(std::net::Shutdown::Both);
    let _ = answers.join();
    outcome.context("relaying containerd's connection")
}

/// The reply to a frame this front answers itself (`Pids`), if it is one.
fn answer_here(frame: &Frame, service_socket: &Path) -> Option<Frame> {
    if frame.header.type_ != MESSAGE_TYPE_REQUEST {
        return None;
    }
    let request = Request::parse_from_bytes(&frame.payload).ok()?;
    if request.service != TASK_SERVICE || request.method != "Pids" {
        return None;
    }
    let response = match pids(&request.payload, service_socket) {
        Ok(pids) => Response {
            status: MessageField::some(status(Code::OK, String::new())),
            payload: pids.write_to_bytes().ok()?,
            ..Default::default()
        },
        Err(status) => Response {
            status: MessageField::some(status),
            ..Default::default()
        },
    };
    let payload = response.write_to_bytes().ok()?;
    Some(Frame {
        header: MessageHeader::new_response(frame.header.stream_id, payload.len() as u32),
        payload,
    })
}

fn status(code: Code, message: String) -> Status {
    Status {
        code: code.into(),
        message,
        ..Default::default()
    }
}

/// The task's processes: the one runwasi's service reports in its state.
fn pids(request: &[u8], service_socket: &Path) -> Result<PidsResponse, Status> {
    let request = PidsRequest::parse_from_bytes(request)
        .map_err(|err| status(Code::INVALID_ARGUMENT, format!("reading Pids: {err}")))?;
    let state = StateRequest {
        id: request.id.clone(),
        ..Default::default()
    };
    let reply = call(service_socket, "State", &state).map_err(|err| {
        status(
            Code::UNAVAILABLE,
            format!("asking the task's state: {err:#}"),
        )
    })?;
    let status_of_reply = reply.status.clone().unwrap_or_default();
    if status_of_reply.code.enum_value_or_default() != Code::OK {
        return Err(status_of_reply);
    }
    let state = containerd_shim_protos::api::StateResponse::parse_from_bytes(&reply.payload)
        .map_err(|err| status(Code::INTERNAL, format!("reading the task's state: {err}")))?;
    let processes = (state.pid != 0)
        .then(|| ProcessInfo {
            pid: state.pid,
            ..Default::default()
        })
        .into_iter()
        .collect();
    Ok(PidsResponse {
        processes,
        ..Default::default()
    })
}

/// One call to runwasi's service on a connection of its own.
fn call(service_socket: &Path, method: &str, message: &impl Message) -> Result<Response> {
    let mut stream = UnixStream::connect(service_socket)?;
    stream.set_read_timeout(Some(STATE_TIMEOUT))?;
    let request = Request {
        service: TASK_SERVICE.into(),
        method: method.into(),
        payload: message.write_to_bytes()?,
        timeout_nano: STATE_TIMEOUT.as_nanos() as i64,
        ..Default::default()
    };
    let payload = request.write_to_bytes()?;
    Frame {
        header: MessageHeader::new_request(1, payload.len() as u32),
        payload,
    }
    .write_to(&mut stream)?;
    loop {
        let frame = Frame::read_from(&mut stream)?.context("the service closed the connection")?;
        if frame.header.type_ == MESSAGE_TYPE_RESPONSE && frame.header.stream_id == 1 {
            return Ok(Response::parse_from_bytes(&frame.payload)?);
        }
    }
}

#[cfg(test)]
mod tests;
