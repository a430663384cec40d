//! Paginated lists of the JSON API: `limit` rows after the cursor `after`
//! (keyset: the position of the last row of the previous page, found by
//! binary search in the list's stable order, so page 400 costs what page 1
//! costs), and `next`, the link to the following page, while rows remain.

use std::collections::BTreeMap;

use axum::http::StatusCode;

use crate::state::{error, ApiError};

/// Rows per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 1000;
/// The most rows one page may ask for.
pub const MAX_LIMIT: usize = 10_000;

/// What a request asks of a paginated list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    pub after: Option<String>,
}

impl Page {
    /// `limit` and `after` taken out of the query (the rest are the list's
    /// own filters); a bad limit is a 400 that says what is accepted.
    pub fn take(q: &mut BTreeMap<String, String>) -> Result<Page, ApiError> {
        let limit = match q.remove("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        format!("limit={v:?}: expected a number of rows from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
        };
        let after = q.remove("after").filter(|a| !a.is_empty());
        Ok(Page { limit, after })
    }

    /// The link to the page after the one ending with `cursor`: `path` with
    /// the list's own filters `q`, this page's limit and the cursor.
    pub fn next(&self, path: &str, q: &BTreeMap<String, String>, cursor: &str) -> String {
        let mut params: Vec<(&str, &str)> =
            q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let limit = self.limit.to_string();
        if self.limit != DEFAULT_LIMIT {
            params.push(("limit", &limit));
        }
        params.push(("after", cursor));
        format!(
            "{path}?{}",
            serde_urlencoded::to_string(&params).unwrap_or_default()
        )
    }
}

/// The rows of one page of `rows` (sorted by `key`, ascending, keys unique):
/// those after the row whose key is `after` (or would be, had it gone), of
/// which `keep` accepts at most `limit`; with the cursor of the next page
/// when rows remain after them.
pub fn slice<T, K: Ord>(
    rows: &[T],
    key: impl Fn(&T) -> K,
    after: Option<K>,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> (Vec<&T>, bool) {
    let start = match &after {
        Some(a) => rows.partition_point(|r| key(r) <= *a),
        None => 0,
    };
    let mut out = Vec::with_capacity(limit.min(rows.len()));
    let mut it = rows[start..].iter().filter(|r| keep(r));
    for r in it.by_ref() {
        out.push(r);
        if out.len() == limit {
            break;
        }
    }
    let more = out.len() == limit && it.next().is_some();
    (out, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_order_and_survive_a_vanished_cursor() {
        let rows: Vec<u32> = (0..25).map(|i| i * 2).collect();
        let even_tens = |r: &u32| r % 10 != 4;
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (page, more) = slice(&rows, |r| *r, after, 7, even_tens);
            seen.extend(page.iter().map(|r| **r));
            if !more {
                break;
            }
            after = page.last().map(|r| **r);
        }
        let want: Vec<u32> = rows.iter().copied().filter(even_tens).collect();
        assert_eq!(seen, want, "every row once, in order");
        // The cursor's row is gone (an odd key never stored): the next row.
        let (page, _) = slice(&rows, |r| *r, Some(5), 2, |_| true);
        assert_eq!(page, [&6, &8]);
        // Exactly `limit` rows left: no next page.
        let (page, more) = slice(&rows, |r| *r, Some(34), 7, |_| true);
        assert_eq!((page.len(), more), (7, false));
    }

    #[test]
    fn limits_are_checked_and_next_links_keep_the_filters() {
        let mut q: BTreeMap<String, String> = [("site", "Site A&B"), ("limit", "50")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let p = Page::take(&mut q).unwrap();
        assert_eq!(p.limit, 50);
        assert_eq!(
            p.next("/api/v1/hosts", &q, "a.example.org:7"),
            "/api/v1/hosts?site=Site+A%26B&limit=50&after=a.example.org%3A7"
        );
        for bad in ["0", "-1", "x", "10001"] {
            let mut q = BTreeMap::from([("limit".to_string(), bad.to_string())]);
            let e = Page::take(&mut q).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains("1 to 10000"), "{}", e.message);
        }
    }
}
