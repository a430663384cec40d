//! A recording HTTP proxy for scrapes: it forwards each request to one
//! backend (with `Connection: close`), optionally replacing the scraper's
//! `Accept` header, and keeps the `Content-Type` of every answer, so a test
//! can tell which exposition format a real Prometheus was given.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub struct Proxy {
    /// `127.0.0.1:port`.
    pub addr: String,
    /// The `Content-Type` of each answer so far.
    pub content_types: Arc<Mutex<Vec<String>>>,
}

/// Starts the proxy in front of `backend` (`127.0.0.1:port`); `accept`
/// replaces the scraper's `Accept` header when given.
pub fn start(backend: &str, accept: Option<&str>) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let content_types = Arc::new(Mutex::new(Vec::new()));
    let (backend, accept, seen) = (
        backend.to_string(),
        accept.map(str::to_string),
        content_types.clone(),
    );
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let (backend, accept, seen) = (backend.clone(), accept.clone(), seen.clone());
            std::thread::spawn(move || {
                let _ = forward(client, &backend, accept.as_deref(), &seen);
            });
        }
    });
    Proxy {
        addr,
        content_types,
    }
}

fn forward(
    client: TcpStream,
    backend: &str,
    accept: Option<&str>,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:") || (accept.is_some() && lower.starts_with("accept:")) {
            continue;
        }
        head.push_str(&line);
    }
    if let Some(a) = accept {
        head.push_str(&format!("Accept: {a}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(backend)?;
    up.write_all(head.as_bytes())?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    if let Some(ct) = text
        .split("\r\n\r\n")
        .next()
        .into_iter()
        .flat_map(|h| h.lines())
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.trim().to_string())
        })
    {
        seen.lock().unwrap().push(ct);
    }
    let mut client = client;
    client.write_all(&answer)?;
    client.flush()
}
