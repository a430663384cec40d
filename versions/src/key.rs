//! Pieces the sort keys share.

/// A run of digits as its value sorts: leading zeros dropped, then the
/// number of digits (two bytes; longer runs saturate, far beyond what any
/// package manager accepts), then the digits.
pub(crate) fn push_number(out: &mut Vec<u8>, digits: &[u8]) {
    let zeros = digits.iter().take_while(|c| **c == b'0').count();
    let digits = &digits[zeros..];
    let len = u16::try_from(digits.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(digits);
}

/// Letters as `strcmp` sorts them: the bytes, then a 0 that sorts a prefix
/// first.
pub(crate) fn push_text(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    out.push(0);
}
