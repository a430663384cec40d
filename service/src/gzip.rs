//! gzip both ways, for every body the programs send or receive: one encoder
//! and one bounded decoder that refuses anything but a single whole stream.

use std::io::{Read as _, Write as _};

/// Compresses `data` (fast level: the bodies are sent once and are small).
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Why a gzip body was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GunzipError {
    #[error("the gzip body is corrupt: {0}")]
    Corrupt(String),
    #[error("the gzip body expands to more than {0} bytes")]
    TooLarge(usize),
    #[error("the gzip body has {0} bytes of trailing data after its stream")]
    Trailing(usize),
}

/// Decompresses one gzip stream of at most `limit` bytes; anything after the
/// stream (a second member, garbage) is refused, never ignored.
pub fn decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, GunzipError> {
    let mut dec = flate2::bufread::GzDecoder::new(data);
    let mut out = Vec::new();
    (&mut dec)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| GunzipError::Corrupt(e.to_string()))?;
    if out.len() > limit {
        return Err(GunzipError::TooLarge(limit));
    }
    match dec.into_inner().len() {
        0 => Ok(out),
        n => Err(GunzipError::Trailing(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_whole_stream_within_the_limit_is_accepted() {
        let body = compress(b"{\"a\": 1}");
        assert_eq!(decompress(&body, 100).unwrap(), b"{\"a\": 1}");
        assert_eq!(decompress(&compress(b""), 0).unwrap(), b"");
    }

    #[test]
    fn garbage_after_the_stream_truncation_and_bombs_are_refused() {
        let body = compress(b"{\"a\": 1}");
        let mut trailing = body.clone();
        trailing.extend_from_slice(b"junk");
        assert_eq!(decompress(&trailing, 100), Err(GunzipError::Trailing(4)));
        let mut two = body.clone();
        two.extend_from_slice(&compress(b"more"));
        assert!(matches!(
            decompress(&two, 100),
            Err(GunzipError::Trailing(_))
        ));
        assert!(matches!(
            decompress(&body[..body.len() - 3], 100),
            Err(GunzipError::Corrupt(_))
        ));
        assert!(matches!(
            decompress(b"plain", 100),
            Err(GunzipError::Corrupt(_))
        ));
        let bomb = compress(&vec![0u8; 1 << 20]);
        assert_eq!(decompress(&bomb, 1000), Err(GunzipError::TooLarge(1000)));
    }
}
