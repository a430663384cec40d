//! Exports (the CSV and JSON downloads of every list) written as they are
//! read: a producer on a blocking thread fills chunks of 64 KiB that go out
//! as it goes, so an export of 100,000 rows never sits whole in memory. A
//! producer reads its rows from the store a page at a time. When the client
//! goes away the producer stops at its next chunk; when the store fails
//! halfway the body is cut (the client sees a broken transfer, never a
//! short file that looks complete) and the cause is logged.

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Bytes gathered before they are sent.
const CHUNK: usize = 64 << 10;

/// Why a producer stopped early.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The client is gone: nothing to report.
    Gone,
    /// Reading failed: the body is cut and this is logged.
    Failed(String),
}

impl<E: std::fmt::Display> From<E> for Stop {
    fn from(e: E) -> Stop {
        Stop::Failed(e.to_string())
    }
}

type Chunk = Result<Bytes, std::io::Error>;

/// Where a producer writes its body.
pub(crate) struct Sink {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Chunk>,
}

impl Sink {
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stop> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK + 4096),
        ));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| Stop::Gone)
    }

    /// One CSV line of `fields`.
    pub fn csv_line<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<(), Stop> {
        self.write(csv_line(fields).as_bytes())
    }

    /// One value of a JSON array: a comma before all but the first.
    pub fn json_item<T: Serialize>(&mut self, first: &mut bool, v: &T) -> Result<(), Stop> {
        if !std::mem::take(first) {
            self.write(b",")?;
        }
        let text = serde_json::to_vec(v).map_err(|e| Stop::Failed(e.to_string()))?;
        self.write(&text)
    }
}

/// One CSV field, quoted when needed; a field that a spreadsheet would read
/// as a formula (leading `=`, `+`, `-`, `@`, tab or CR: OWASP's rule) is defused.
pub(crate) fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One CSV line: each field quoted and defused as [`csv_field`] says.
fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&csv_field(f.as_ref()));
    }
    line.push('\n');
    line
}

/// A short CSV list (bounded by one host or by the feeds, not by the
/// fleet), written at once.
pub(crate) fn csv(
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
    filename: &str,
) -> Response {
    let mut out = csv_line(header);
    for r in rows {
        out.push_str(&csv_line(&r));
    }
    (csv_headers(filename), out).into_response()
}

fn csv_headers(filename: &str) -> [(header::HeaderName, String); 2] {
    [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{filename}\""),
        ),
    ]
}

/// What an export is: its content type and, for a download, its file name.
pub(crate) enum Kind<'a> {
    Csv { filename: &'a str },
    Json,
}

/// The response whose body `produce` writes, on a blocking thread.
pub(crate) fn stream(
    kind: Kind<'_>,
    produce: impl FnOnce(&mut Sink) -> Result<(), Stop> + Send + 'static,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(4);
    tokio::task::spawn_blocking(move || {
        let mut sink = Sink {
            buf: Vec::with_capacity(CHUNK + 4096),
            tx: tx.clone(),
        };
        match produce(&mut sink).and_then(|()| sink.flush()) {
            Ok(()) | Err(Stop::Gone) => {}
            Err(Stop::Failed(why)) => {
                tracing::warn!(error = %why, "an export stopped halfway: its body is cut");
                let _ = tx.blocking_send(Err(std::io::Error::other(why)));
            }
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((chunk, rx))
    }));
    match kind {
        Kind::Csv { filename } => (csv_headers(filename), body).into_response(),
        Kind::Json => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
    }
}

/// A CSV export of `rows`, read by `pages` a page at a time: `pages(after)`
/// gives the rows after the cursor and the cursor of the next page (`None`
/// at the end); `line` makes a row's fields.
pub(crate) fn csv_pages<R, C: Send + 'static>(
    filename: &str,
    header: &'static [&'static str],
    mut pages: impl FnMut(Option<C>) -> Result<(Vec<R>, Option<C>), Stop> + Send + 'static,
    line: impl Fn(&R) -> Vec<String> + Send + 'static,
) -> Response {
    stream(Kind::Csv { filename }, move |out| {
        out.csv_line(header)?;
        let mut after = None;
        loop {
            let (rows, next) = pages(after)?;
            for r in &rows {
                out.csv_line(&line(r))?;
            }
            match next {
                Some(c) => after = Some(c),
                None => return Ok(()),
            }
        }
    })
}

/// A JSON export: the object `head` with one more member, `key`, the array
/// of every row of `pages` (read as [`csv_pages`] reads them) as `item`
/// makes it.
pub(crate) fn json_pages<R, C: Send + 'static>(
    head: serde_json::Value,
    key: &'static str,
    mut pages: impl FnMut(Option<C>) -> Result<(Vec<R>, Option<C>), Stop> + Send + 'static,
    item: impl Fn(&R) -> serde_json::Value + Send + 'static,
) -> Response {
    stream(Kind::Json, move |out| {
        let head = serde_json::to_string(&head)?;
        let open = head.strip_suffix('}').unwrap_or("{");
        let comma = if open.len() > 1 { "," } else { "" };
        out.write(format!("{open}{comma}{}:[", serde_json::Value::from(key)).as_bytes())?;
        let (mut after, mut first) = (None, true);
        loop {
            let (rows, next) = pages(after)?;
            for r in &rows {
                out.json_item(&mut first, &item(r))?;
            }
            match next {
                Some(c) => after = Some(c),
                None => return out.write(b"]}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        for (field, defused) in [
            ("=cmd()", "'=cmd()"),
            ("+cmd()", "'+cmd()"),
            ("-2+3+cmd()", "'-2+3+cmd()"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=cmd()", "'\t=cmd()"),
            ("\r=cmd()", "\"'\r=cmd()\""),
            ("1-2", "1-2"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(csv_field(field), defused, "{field:?}");
        }
    }

    async fn body_of(resp: Response) -> Result<String, String> {
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn pages_are_written_in_order_and_a_failure_cuts_the_body() {
        // 3 pages of 50,000 rows: more than one chunk each.
        let resp = csv_pages(
            "n.csv",
            &["n", "text"],
            |after: Option<u32>| {
                let from = after.unwrap_or(0);
                let rows: Vec<u32> = (from..from + 50_000).collect();
                Ok((rows, (from < 100_000).then_some(from + 50_000)))
            },
            |n| vec![n.to_string(), format!("={n}")],
        );
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/csv; charset=utf-8"
        );
        let text = body_of(resp).await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 150_001);
        assert_eq!(lines[0], "n,text");
        assert_eq!(lines[1], "0,'=0");
        assert_eq!(lines[150_000], "149999,'=149999");

        let resp = csv_pages(
            "n.csv",
            &["n"],
            |after: Option<u32>| match after {
                None => Ok(((0..50_000).collect(), Some(1))),
                Some(_) => Err(Stop::Failed("the store went away".into())),
            },
            |n: &u32| vec![n.to_string()],
        );
        let e = body_of(resp).await.unwrap_err();
        assert!(e.contains("the store went away"), "{e}");
    }

    #[tokio::test]
    async fn json_exports_are_one_document() {
        let pages = |after: Option<u32>| {
            let from = after.unwrap_or(0);
            Ok((
                (from..from + 3).collect::<Vec<u32>>(),
                (from == 0).then_some(3),
            ))
        };
        let item = |n: &u32| serde_json::json!({ "n": n });
        let text = body_of(json_pages(
            serde_json::json!({ "id": "a\"b" }),
            "rows",
            pages,
            item,
        ))
        .await
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["id"], "a\"b");
        let ns: Vec<u64> = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["n"].as_u64().unwrap())
            .collect();
        assert_eq!(ns, [0, 1, 2, 3, 4, 5]);
        let text = body_of(json_pages(
            serde_json::json!({}),
            "rows",
            |_: Option<u32>| Ok((Vec::<u32>::new(), None)),
            item,
        ))
        .await
        .unwrap();
        assert_eq!(text, r#"{"rows":[]}"#);
    }
}
