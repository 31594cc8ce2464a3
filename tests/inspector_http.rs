//! The inspector's HTTP endpoint, through a real HTTP client: `/inspect` is the snapshot as
//! JSON with the documented fields, `/metrics` is strict Prometheus text, `/` is the live
//! page; unknown paths are 404 and other methods 405; malformed or abandoned requests
//! never disturb the runtime; stopping the server closes its port (issue: inspector over
//! HTTP).
#![cfg(feature = "http")]

#[path = "support/common.rs"]
mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use async_io::Async;
use bytes::Bytes;
use common::*;
use futures_lite::FutureExt;
use http_body_util::{BodyExt, Empty};
use hyper::header::{ALLOW, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use reactree::prelude::*;
use reactree::{InspectorError, InspectorServer};
use smol_hyper::rt::FuturesIo;

/// A response as the tests look at it.
struct Fetched {
    status: StatusCode,
    content_type: String,
    allow: Option<String>,
    body: String,
}

/// One request on a fresh connection, with hyper's client over smol-hyper.
fn fetch(addr: SocketAddr, method: Method, path: &str) -> Fetched {
    async_io::block_on(async {
        let stream = Async::<TcpStream>::connect(addr).await.expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(FuturesIo::new(stream))
                .await
                .expect("handshake");
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, addr.to_string())
            .body(Empty::<Bytes>::new())
            .unwrap();
        let exchange = async {
            let response = sender.send_request(request).await.expect("a response");
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.expect("the body").to_bytes();
            let header = |name| {
                parts
                    .headers
                    .get(name)
                    .map(|v: &hyper::header::HeaderValue| v.to_str().unwrap().to_owned())
            };
            Fetched {
                status: parts.status,
                content_type: header(CONTENT_TYPE).unwrap_or_default(),
                allow: header(ALLOW),
                body: String::from_utf8(bytes.to_vec()).expect("a UTF-8 body"),
            }
        };
        exchange
            .or(async {
                let _ = connection.await;
                futures_lite::future::pending().await
            })
            .await
    })
}

fn get(addr: SocketAddr, path: &str) -> Fetched {
    fetch(addr, Method::GET, path)
}

/// `pricing` under the root and `inventory` under the nested `sales`, served.
fn served() -> (Runtime, InspectorServer) {
    let log = log();
    let sales = Supervisor::builder("sales")
        .reactors(1)
        .child(Probe::spec("inventory", "http.inventory", &log).mailbox_capacity(8));
    let runtime = Runtime::builder()
        .reactors(1)
        .child(Probe::spec("pricing", "http.pricing", &log))
        .supervisor(sales)
        .build()
        .unwrap();
    let server = runtime.handle().serve_inspector("127.0.0.1:0").unwrap();
    (runtime, server)
}

#[test]
fn inspect_is_the_snapshot_as_json_with_the_documented_fields() {
    let (runtime, server) = served();
    let pricing = Address::<Cmd>::new("http.pricing");
    let reply = runtime.block_on(runtime.bus().request(&pricing, Cmd::Echo(7)));
    assert_eq!(reply.ok(), Some(Reply::Number(7)));
    // The instance counts the message just after its reply leaves, on the reactor's
    // thread: wait for the count before reading it over HTTP.
    assert!(eventually(GENEROUS, || {
        runtime
            .handle()
            .inspect()
            .components
            .iter()
            .any(|c| c.path == "root/pricing" && c.handled == 1)
    }));

    let response = get(server.local_addr(), "/inspect");
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.content_type, "application/json");
    let json: serde_json::Value = serde_json::from_str(&response.body).expect("JSON");
    for field in ["supervisors", "components", "reactors", "bus", "pools"] {
        assert!(json[field].is_array(), "no array {field} in {json}");
    }
    let sales = &json["supervisors"][1];
    assert_eq!(sales["path"], "root/sales");
    for field in ["strategy", "state", "restarts", "children"] {
        assert!(!sales[field].is_null(), "no {field} in {sales}");
    }
    let components = json["components"].as_array().unwrap();
    let paths: Vec<&str> = components
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["root/pricing", "root/sales/inventory"]);
    let inventory = &components[1];
    assert_eq!(inventory["name"], "inventory");
    assert_eq!(inventory["state"], "running");
    assert_eq!(inventory["mailbox_capacity"], 8);
    for field in [
        "id",
        "instance",
        "reactor",
        "mailbox_len",
        "handled",
        "expired",
        "failures",
        "restarts",
        "blocked",
        "last_failure",
    ] {
        assert!(inventory.get(field).is_some(), "no {field} in {inventory}");
    }
    assert_eq!(components[0]["handled"], 1);
    let addresses: Vec<&str> = json["bus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert!(addresses.contains(&"http.pricing"), "{addresses:?}");
    assert_eq!(json["reactors"][0]["thread"], "reactree-reactor-0");
    assert_eq!(json["pools"][0]["name"], "default");
    server.stop();
    runtime.shutdown();
}

/// One sample of the exposition: its metric name, labels and value.
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// A strict reader of the Prometheus text format 0.0.4: comments are `# HELP name text`
/// or `# TYPE name counter|gauge|...`, one TYPE per name before its samples, and every
/// sample is `name{label="value",...} number` of a family with a TYPE line.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut typed = HashSet::new();
    let mut samples = Vec::new();
    assert!(text.ends_with('\n'), "the exposition ends with a line feed");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(valid_name(name), "bad metric name in {line:?}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad type in {line:?}"
            );
            assert!(typed.insert(name.to_owned()), "a second TYPE in {line:?}");
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(valid_name(name), "bad metric name in {line:?}");
        } else {
            assert!(!line.starts_with('#'), "unknown comment {line:?}");
            let sample = parse_sample(line);
            assert!(typed.contains(&sample.name), "no TYPE before {line:?}");
            samples.push(sample);
        }
    }
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Sample {
    let (name, rest) = line.split_once('{').expect("name{labels} value");
    assert!(valid_name(name), "bad metric name in {line:?}");
    let mut labels = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        if chars.peek() == Some(&'}') {
            chars.next();
            break;
        }
        let label: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert!(valid_name(&label), "bad label name in {line:?}");
        assert_eq!(chars.next(), Some('"'), "unquoted label value in {line:?}");
        let mut value = String::new();
        loop {
            match chars.next().expect("an unterminated label value") {
                '"' => break,
                '\\' => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?} in {line:?}"),
                },
                '\n' => panic!("a raw line feed in {line:?}"),
                c => value.push(c),
            }
        }
        assert!(
            labels.insert(label, value).is_none(),
            "a repeated label in {line:?}"
        );
        match chars.next() {
            Some(',') => {}
            Some('}') => break,
            other => panic!("expected , or }} but found {other:?} in {line:?}"),
        }
    }
    let value: String = chars.collect();
    let value = value
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before the value in {line:?}"));
    let value: f64 = value
        .parse()
        .unwrap_or_else(|_| panic!("bad value in {line:?}"));
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

fn find<'a>(samples: &'a [Sample], name: &str, label: (&str, &str)) -> &'a Sample {
    samples
        .iter()
        .find(|s| s.name == name && s.labels.get(label.0).map(String::as_str) == Some(label.1))
        .unwrap_or_else(|| panic!("no {name} with {label:?}"))
}

#[test]
fn metrics_are_strict_prometheus_text_with_mailbox_gauges() {
    let (runtime, server) = served();
    let response = get(server.local_addr(), "/metrics");
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        response
            .content_type
            .starts_with("text/plain; version=0.0.4"),
        "{}",
        response.content_type
    );
    let samples = parse_exposition(&response.body);
    let capacity = find(
        &samples,
        "reactree_component_mailbox_capacity",
        ("path", "root/sales/inventory"),
    );
    assert_eq!(capacity.value, 8.0);
    assert_eq!(capacity.labels["component"], "inventory");
    assert_eq!(capacity.labels["instance"], "0");
    let depth = find(
        &samples,
        "reactree_component_mailbox_depth",
        ("path", "root/pricing"),
    );
    assert_eq!(depth.value, 0.0);
    for (name, label) in [
        ("reactree_component_handled_total", ("path", "root/pricing")),
        (
            "reactree_component_failures_total",
            ("path", "root/pricing"),
        ),
        (
            "reactree_component_restarts_total",
            ("path", "root/pricing"),
        ),
        ("reactree_supervisor_restarts_total", ("path", "root/sales")),
        ("reactree_bus_consumers", ("address", "http.inventory")),
        ("reactree_bus_sent_total", ("address", "http.inventory")),
        (
            "reactree_bus_timed_out_total",
            ("address", "http.inventory"),
        ),
        ("reactree_pool_threads", ("pool", "default")),
        ("reactree_pool_queue_capacity", ("pool", "default")),
        ("reactree_pool_panicked_total", ("pool", "default")),
        ("reactree_reactor_blocked_events_total", ("reactor", "1")),
    ] {
        find(&samples, name, label);
    }
    server.stop();
    runtime.shutdown();
}

#[test]
fn the_root_is_the_live_page() {
    let (runtime, server) = served();
    let response = get(server.local_addr(), "/");
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.content_type, "text/html; charset=utf-8");
    assert!(response.body.starts_with("<!doctype html>"));
    assert!(response.body.contains("<script>"), "an inline script");
    assert!(response.body.contains("fetch("), "the page polls");
    assert!(response.body.contains("inspect"), "the page polls /inspect");
    assert!(!response.body.contains("src=\"http"), "no external assets");
    server.stop();
    runtime.shutdown();
}

#[test]
fn unknown_paths_are_404_and_other_methods_405() {
    let (runtime, server) = served();
    let addr = server.local_addr();
    assert_eq!(get(addr, "/nowhere").status, StatusCode::NOT_FOUND);
    assert_eq!(get(addr, "/inspect/more").status, StatusCode::NOT_FOUND);
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        for path in ["/", "/inspect", "/metrics"] {
            let response = fetch(addr, method.clone(), path);
            assert_eq!(
                response.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(response.allow.as_deref(), Some("GET"), "{method} {path}");
        }
    }
    assert_eq!(get(addr, "/inspect?pretty").status, StatusCode::OK);
    server.stop();
    runtime.shutdown();
}

/// Sends `bytes` on a raw connection and reads what comes back until the server closes.
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(GENEROUS)).unwrap();
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn malformed_and_abandoned_requests_leave_the_runtime_serving() {
    let (runtime, server) = served();
    let addr = server.local_addr();

    let answer = raw_exchange(addr, b"THIS IS NOT HTTP\r\n\r\n");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer:?}"
    );
    let answer = raw_exchange(addr, b"GET /inspect HTTP/1.1\r\nBad Header\r\n\r\n");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer:?}"
    );
    // A head far over the cap: refused (431) or closed, never read in full.
    let mut huge = b"GET /inspect HTTP/1.1\r\nX-Big: ".to_vec();
    huge.resize(256 * 1024, b'a');
    let answer = raw_exchange(addr, &huge);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(80)]
    );
    // Clients that go away mid-request or right after connecting.
    for partial in [
        &b"GET /insp"[..],
        b"",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n",
    ] {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(partial).unwrap();
        drop(stream);
    }

    assert_eq!(get(addr, "/inspect").status, StatusCode::OK);
    let pricing = Address::<Cmd>::new("http.pricing");
    let reply = runtime.block_on(runtime.bus().request(&pricing, Cmd::Echo(1)));
    assert_eq!(reply.ok(), Some(Reply::Number(1)), "reactor 0 lives on");
    let snapshot = runtime.handle().inspect();
    assert!(snapshot.components.iter().all(|c| c.state == "running"));
    server.stop();
    runtime.shutdown();
}

#[test]
fn stopping_the_server_closes_its_port() {
    let (runtime, server) = served();
    let addr = server.local_addr();
    assert_eq!(get(addr, "/inspect").status, StatusCode::OK);
    // An open keep-alive connection does not hold the server up.
    let idle = TcpStream::connect(addr).unwrap();
    server.stop();
    let refused = TcpStream::connect(addr).expect_err("the port is closed");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    drop(idle);
    runtime.shutdown();
}

#[test]
fn dropping_the_server_or_the_runtime_closes_the_port() {
    let (runtime, server) = served();
    let addr = server.local_addr();
    drop(server);
    assert!(eventually(GENEROUS, || TcpStream::connect(addr).is_err()));

    let server = runtime.handle().serve_inspector("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    runtime.shutdown();
    let refused = TcpStream::connect(addr).expect_err("the port is closed");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    server.stop();
}

#[test]
fn an_address_in_use_is_a_bind_error() {
    let (runtime, server) = served();
    let error = runtime
        .handle()
        .serve_inspector(server.local_addr())
        .expect_err("the port is taken");
    assert!(matches!(error, InspectorError::Bind(_)), "{error:?}");
    assert_eq!(error.to_string(), "could not bind the inspector's address");
    server.stop();
    runtime.shutdown();
}
