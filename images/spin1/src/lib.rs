//! Spin 1.x HTTP and Redis handlers as wit-bindgen 0.2 laid them out: the
//! export `handle-http-request` takes the request flattened into ten
//! values and returns a pointer to the response; imports return through a
//! pointer the caller passes last; the host allocates with
//! `canonical_abi_realloc`. (Spin 1.x modules had one handler each; one
//! module with both tests both.)
//!
//! HTTP answers with the `greeting` variable, a visit count kept in the
//! `default` store, the errors Spin 1.x defines for an undefined variable
//! and an unlisted store, and the request it saw.
//!
//! A Redis message is recorded as `RPUSH <list> "<n>:<message>"` on the
//! server of the `redis_address` variable, `<list>` being the `list`
//! variable and `<n>` how many messages this instance handled. `fail`
//! makes the handler return `error`, `trap` makes it trap.
#![cfg(target_env = "p1")]

use std::alloc::{self, Layout};
use std::slice;

#[link(wasm_import_module = "spin-config")]
extern "C" {
    #[link_name = "get-config"]
    fn get_config(key: *const u8, key_len: usize, ret: *mut u8);
}

#[link(wasm_import_module = "key-value")]
extern "C" {
    #[link_name = "open"]
    fn kv_open(name: *const u8, name_len: usize, ret: *mut u8);
    #[link_name = "get"]
    fn kv_get(store: u32, key: *const u8, key_len: usize, ret: *mut u8);
    #[link_name = "set"]
    fn kv_set(
        store: u32,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        len: usize,
        ret: *mut u8,
    );
    #[link_name = "close"]
    fn kv_close(store: u32);
}

#[link(wasm_import_module = "sqlite")]
extern "C" {
    #[link_name = "open"]
    fn sqlite_open(name: *const u8, name_len: usize, ret: *mut u8);
    #[link_name = "execute"]
    fn sqlite_execute(
        conn: u32,
        statement: *const u8,
        statement_len: usize,
        parameters: *const SqliteValue,
        parameters_len: usize,
        ret: *mut u8,
    );
    #[link_name = "close"]
    fn sqlite_close(conn: u32);
}

/// A sqlite `value`: the case at 0, an `integer` payload at 8.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct SqliteValue {
    case: u32,
    _pad: u32,
    integer: i64,
}

#[link(wasm_import_module = "outbound-redis")]
extern "C" {
    #[link_name = "execute"]
    fn redis_execute(
        address: *const u8,
        address_len: usize,
        command: *const u8,
        command_len: usize,
        arguments: *const RedisParameter,
        arguments_len: usize,
        ret: *mut u8,
    );
}

/// `redis-parameter`'s `binary` case: the case at 0, the list at 8.
#[repr(C, align(8))]
struct RedisParameter {
    case: u32,
    _pad: u32,
    ptr: u32,
    len: u32,
}

/// Where an import writes a `result`: the case at 0, its payload from 4.
#[repr(C, align(4))]
struct ReturnArea([u8; 20]);

impl ReturnArea {
    fn new() -> Self {
        ReturnArea([0; 20])
    }
    fn ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr()
    }
    fn byte(&self, at: usize) -> u8 {
        self.0[at]
    }
    fn word(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap())
    }
    /// The string or byte list whose pointer and length are at `at`.
    fn bytes(&self, at: usize) -> Vec<u8> {
        let (ptr, len) = (self.word(at) as *mut u8, self.word(at + 4) as usize);
        // SAFETY: the host wrote a list it allocated with our realloc.
        unsafe { Vec::from_raw_parts(ptr, len, len) }
    }
}

/// `get-config`: the value, or the error case's name and message.
fn config(key: &str) -> Result<String, String> {
    let mut ret = ReturnArea::new();
    unsafe { get_config(key.as_ptr(), key.len(), ret.ptr()) };
    if ret.byte(0) == 0 {
        return Ok(String::from_utf8(ret.bytes(4)).unwrap());
    }
    let case = ["provider", "invalid-key", "invalid-schema", "other"][ret.byte(4) as usize];
    Err(format!(
        "{case}({})",
        String::from_utf8_lossy(&ret.bytes(8))
    ))
}

/// The key-value error case names, in their order.
const KV_ERRORS: [&str; 6] = [
    "store-table-full",
    "no-such-store",
    "access-denied",
    "invalid-store",
    "no-such-key",
    "io",
];

fn kv_error(ret: &ReturnArea) -> String {
    KV_ERRORS[ret.byte(4) as usize].to_string()
}

fn open(name: &str) -> Result<u32, String> {
    let mut ret = ReturnArea::new();
    unsafe { kv_open(name.as_ptr(), name.len(), ret.ptr()) };
    match ret.byte(0) {
        0 => Ok(ret.word(4)),
        _ => Err(kv_error(&ret)),
    }
}

fn get(store: u32, key: &str) -> Result<Vec<u8>, String> {
    let mut ret = ReturnArea::new();
    unsafe { kv_get(store, key.as_ptr(), key.len(), ret.ptr()) };
    match ret.byte(0) {
        0 => Ok(ret.bytes(4)),
        _ => Err(kv_error(&ret)),
    }
}

fn set(store: u32, key: &str, value: &[u8]) -> Result<(), String> {
    let mut ret = ReturnArea::new();
    unsafe {
        kv_set(
            store,
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
            ret.ptr(),
        )
    };
    match ret.byte(0) {
        0 => Ok(()),
        _ => Err(kv_error(&ret)),
    }
}

/// The visits before this one (a missing key is `no-such-key`), now
/// counted one more.
fn count_visit() -> Result<(u32, String), String> {
    let store = open("default")?;
    let (before, missing) = match get(store, "visits") {
        Ok(value) => (
            String::from_utf8(value).unwrap().parse().unwrap(),
            String::new(),
        ),
        Err(case) => (0, case),
    };
    set(store, "visits", (before + 1).to_string().as_bytes())?;
    unsafe { kv_close(store) };
    Ok((before, missing))
}

/// The sqlite error case names, in their order.
const SQLITE_ERRORS: [&str; 5] = [
    "no-such-database",
    "access-denied",
    "invalid-connection",
    "database-full",
    "io",
];

fn sqlite_open_named(name: &str) -> Result<u32, String> {
    let mut ret = ReturnArea::new();
    unsafe { sqlite_open(name.as_ptr(), name.len(), ret.ptr()) };
    match ret.byte(0) {
        0 => Ok(ret.word(4)),
        _ => Err(SQLITE_ERRORS[ret.byte(4) as usize].to_string()),
    }
}

/// `SELECT ? + 1` with 41 on the `default` database: the one integer of
/// its one row, or the error case.
fn sqlite_answer() -> Result<i64, String> {
    let conn = sqlite_open_named("default")?;
    let statement = "SELECT ? + 1";
    let parameters = [SqliteValue {
        case: 0,
        _pad: 0,
        integer: 41,
    }];
    let mut ret = ReturnArea::new();
    unsafe {
        sqlite_execute(
            conn,
            statement.as_ptr(),
            statement.len(),
            parameters.as_ptr(),
            parameters.len(),
            ret.ptr(),
        )
    };
    unsafe { sqlite_close(conn) };
    if ret.byte(0) != 0 {
        return Err(SQLITE_ERRORS[ret.byte(4) as usize].to_string());
    }
    // query-result: columns at 4 (list<string>), rows at 12
    // (list<row-result>, each a list<value> of 16-byte values).
    let (rows, rows_len) = (ret.word(12) as *const u32, ret.word(16) as usize);
    if rows_len != 1 {
        return Err(format!("{rows_len} rows"));
    }
    let (values, values_len) = unsafe { (*rows as *const SqliteValue, *rows.add(1) as usize) };
    if values_len != 1 {
        return Err(format!("{values_len} values"));
    }
    let value = unsafe { *values };
    match value.case {
        0 => Ok(value.integer),
        other => Err(format!("value case {other}")),
    }
}

/// A host-allocated string or list handed to the export.
unsafe fn owned(ptr: *mut u8, len: usize) -> Vec<u8> {
    Vec::from_raw_parts(ptr, len, len)
}

/// A `list<tuple<string, string>>` as the export receives it.
unsafe fn pairs(ptr: *mut u8, len: usize) -> Vec<(String, String)> {
    let words = slice::from_raw_parts(ptr as *const u32, len * 4);
    words
        .chunks(4)
        .map(|w| {
            let text = |p: u32, l: u32| String::from_utf8(owned(p as *mut u8, l as usize)).unwrap();
            (text(w[0], w[1]), text(w[2], w[3]))
        })
        .collect()
}

static mut HANDLED: u32 = 0;

#[export_name = "handle-redis-message"]
unsafe extern "C" fn handle_redis_message(message: *mut u8, len: usize) -> *const u8 {
    static mut RESULT: [u8; 2] = [0; 2];
    HANDLED += 1;
    let handled = HANDLED;
    let message = String::from_utf8(owned(message, len)).unwrap();
    let result = &raw mut RESULT;
    match message.as_str() {
        "fail" => {
            // `error::error`, the one failure Spin 1.x's Redis defines.
            (*result) = [1, 1];
            return result as *const u8;
        }
        "trap" => core::arch::wasm32::unreachable(),
        _ => {}
    }
    let address = config("redis_address").unwrap();
    let list = config("list").unwrap();
    let entry = format!("{handled}:{message}");
    let arguments = [
        RedisParameter {
            case: 1,
            _pad: 0,
            ptr: list.as_ptr() as u32,
            len: list.len() as u32,
        },
        RedisParameter {
            case: 1,
            _pad: 0,
            ptr: entry.as_ptr() as u32,
            len: entry.len() as u32,
        },
    ];
    let mut ret = ReturnArea::new();
    let command = "RPUSH";
    redis_execute(
        address.as_ptr(),
        address.len(),
        command.as_ptr(),
        command.len(),
        arguments.as_ptr(),
        arguments.len(),
        ret.ptr(),
    );
    // `expected<list<redis-result>, error>`: its error case sits at 4.
    (*result) = [ret.byte(0), ret.byte(4)];
    result as *const u8
}

/// A constructor reading the environment, as wasi-libc's did in Spin 1.x's
/// day: wasm-ld then wraps every export, `canonical_abi_realloc`
/// included, in a call running the constructors first.
#[used]
#[link_section = ".init_array"]
static READ_ENVIRONMENT: extern "C" fn() = read_environment;

extern "C" fn read_environment() {
    std::hint::black_box(std::env::vars_os().count());
}

/// The response the export points the host at.
#[repr(C, align(4))]
struct Response([u32; 7]);

static mut RESPONSE: Response = Response([0; 7]);

/// A list the host reads after the call; the instance ends with the request.
fn leaked<T>(items: Vec<T>) -> (u32, u32) {
    let items = items.leak();
    (items.as_ptr() as u32, items.len() as u32)
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

#[export_name = "handle-http-request"]
unsafe extern "C" fn handle_http_request(
    method: i32,
    uri: *mut u8,
    uri_len: usize,
    headers: *mut u8,
    headers_len: usize,
    params: *mut u8,
    params_len: usize,
    has_body: i32,
    body: *mut u8,
    body_len: usize,
) -> *const Response {
    let uri = String::from_utf8(owned(uri, uri_len)).unwrap();
    let headers = pairs(headers, headers_len);
    let _params = pairs(params, params_len);
    let body = (has_body != 0).then(|| owned(body, body_len));
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };

    let greeting = config("greeting").unwrap_or_else(|e| e);
    let undefined = config("no_such_variable").unwrap_err();
    let denied = open("forbidden").unwrap_err();
    let sqlite = sqlite_answer().map_or_else(|e| e, |n| n.to_string());
    let sqlite_denied = sqlite_open_named("forbidden").unwrap_err();
    let (visits, missing) = match count_visit() {
        Ok(counted) => counted,
        Err(case) => (u32::MAX, case),
    };
    let text = format!(
        "{greeting}\nmethod={} uri={uri} path-info={}\nvisits before={visits} first get={missing}\n\
         undefined variable={undefined}\nunlisted store={denied}\n\
         sqlite={sqlite} unlisted database={sqlite_denied}\nbody bytes={}\n",
        METHODS[method as usize],
        header("spin-path-info"),
        body.map_or(-1, |b| b.len() as i64),
    );

    let name = |s: &str| leaked(s.as_bytes().to_vec());
    let (k, kl) = name("x-spin1");
    let (v, vl) = name("wit-bindgen 0.2");
    let (headers, headers_len) = leaked(vec![[k, kl, v, vl]]);
    let (body, body_len) = leaked(text.into_bytes());
    let response = &raw mut RESPONSE;
    (*response).0 = [201, 1, headers, headers_len, 1, body, body_len];
    response
}

/// wit-bindgen 0.2's allocator export: a new block when `old_len` is 0,
/// otherwise the block grown or shrunk.
#[export_name = "canonical_abi_realloc"]
unsafe extern "C" fn canonical_abi_realloc(
    old: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    if new_len == 0 {
        return align as *mut u8;
    }
    let ptr = if old_len == 0 {
        alloc::alloc(Layout::from_size_align_unchecked(new_len, align))
    } else {
        alloc::realloc(
            old,
            Layout::from_size_align_unchecked(old_len, align),
            new_len,
        )
    };
    if ptr.is_null() {
        std::process::abort();
    }
    ptr
}

#[export_name = "canonical_abi_free"]
unsafe extern "C" fn canonical_abi_free(ptr: *mut u8, len: usize, align: usize) {
    if len != 0 {
        alloc::dealloc(ptr, Layout::from_size_align_unchecked(len, align));
    }
}
