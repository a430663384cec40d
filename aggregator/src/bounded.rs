//! Answers of other servers (exporters scraped, upstream aggregators) read
//! with a bound: never whole, whatever they send.

/// Up to `limit` bytes of `resp`'s body, and whether there was more.
pub async fn read(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Ok((Vec::new(), true));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            body.extend_from_slice(&chunk[..limit - body.len()]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    /// A one-shot server answering `head` and then `body` (or endless bytes).
    fn server(head: &'static str, body: Option<&'static [u8]>) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let _ = c.read(&mut [0u8; 4096]);
            let _ = c.write_all(head.as_bytes());
            match body {
                Some(b) => {
                    let _ = c.write_all(b);
                }
                None => while c.write_all(&[b'x'; 65536]).is_ok() {},
            }
        });
        port
    }

    #[tokio::test]
    async fn an_endless_answer_is_cut_and_a_short_one_read_whole() {
        let client = reqwest::Client::new();
        let port = server("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n", None);
        let resp = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap();
        // An unbounded read would never end: fail instead of hanging.
        let (body, more) =
            tokio::time::timeout(std::time::Duration::from_secs(20), read(resp, 100_000))
                .await
                .expect("the read stops at its bound")
                .unwrap();
        assert_eq!((body.len(), more), (100_000, true));
        let port = server(
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
            Some(b"hello"),
        );
        let resp = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(read(resp, 5).await.unwrap(), (b"hello".to_vec(), false));
        let port = server(
            "HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n",
            Some(b"hello!"),
        );
        let resp = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap();
        assert!(
            read(resp, 5).await.unwrap().1,
            "a declared length past the limit"
        );
    }
}
