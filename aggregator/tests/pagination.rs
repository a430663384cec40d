//! Every list of the JSON API a page at a time: following `next` from the
//! first page gives each row once, in the order of the whole list, and a
//! page resumes after its cursor whatever changed meanwhile.

mod common;

use axum::http::StatusCode;
use serde_json::{json, Value};

use common::*;

fn host(name: &str, n: usize, site: &str, xz: &str) -> Vec<u8> {
    with(|v| {
        v["host"]["hostname"] = name.into();
        v["host"]["machine_id"] = format!("{n:032x}").into();
        v["host"]["site"] = site.into();
        v["installed_packages"] = 1.into();
        v["installed"] = json!([{"name": "xz-utils", "version": xz, "arch": "amd64"}]);
    })
}

/// Every page from `first`, following `next`: the rows under `key`.
async fn walk(f: &Fixture, first: &str, key: &str) -> (Vec<Value>, usize) {
    let (mut rows, mut pages, mut url) = (Vec::new(), 0, Some(first.to_string()));
    while let Some(u) = url {
        let (s, v) = get_json(&f.state, &u).await;
        assert_eq!(s, StatusCode::OK, "{u}: {v}");
        rows.extend(v[key].as_array().unwrap().iter().cloned());
        pages += 1;
        url = v["next"].as_str().map(str::to_string);
    }
    (rows, pages)
}

fn names(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|h| h["hostname"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_hosts_api_pages_through_the_fleet_in_name_order() {
    let f = fixture("");
    // Names whose byte order differs from a collation's (`-` and `.`).
    let mut all: Vec<String> = Vec::new();
    for i in 0..23 {
        let name = format!("{}{}", ["web-", "web.", "web", "db-"][i % 4], i);
        let (s, b) = post(
            &f.state,
            &[JSON],
            host(&name, i + 1, ["A", "B", "C"][i % 3], "5.6.0-1"),
        )
        .await;
        assert!(s.is_success(), "{b}");
        all.push(name);
    }
    all.sort();
    let (rows, pages) = walk(&f, "/api/v1/hosts?limit=5", "hosts").await;
    assert_eq!(names(&rows), all);
    assert_eq!(pages, 5);
    let (_, first) = get_json(&f.state, "/api/v1/hosts?limit=5").await;
    assert_eq!(first["total"], 23);
    // The default page holds them all and links nothing.
    let (_, whole) = get_json(&f.state, "/api/v1/hosts").await;
    assert_eq!(names(whole["hosts"].as_array().unwrap()), all);
    assert_eq!(whole["next"], Value::Null);
    // Filters stay with the pages.
    let (rows, _) = walk(&f, "/api/v1/hosts?site=B&limit=2", "hosts").await;
    let (_, b) = get_json(&f.state, "/api/v1/hosts?site=B").await;
    assert_eq!(names(&rows), names(b["hosts"].as_array().unwrap()));
    assert_eq!(b["total"], rows.len());
    assert!(rows.iter().all(|h| h["site"] == "B"));
    // A host that arrives between two pages, after the cursor, is on a later page.
    let next = first["next"].as_str().unwrap().to_string();
    let (s, _) = post(&f.state, &[JSON], host("zz-late", 99, "A", "5.6.0-1")).await;
    assert!(s.is_success());
    let (rest, _) = walk(&f, &next, "hosts").await;
    let mut want = all[5..].to_vec();
    want.push("zz-late".into());
    assert_eq!(names(&rest), want);
    // Bad pages are refused with a reason.
    for bad in [
        "limit=0",
        "limit=10001",
        "limit=many",
        "after=nonsense",
        "after=a:b",
    ] {
        let (s, e) = get_json(&f.state, &format!("/api/v1/hosts?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert!(e["error"].is_string());
    }
}

#[tokio::test]
async fn the_packages_api_pages_through_its_hosts_in_version_order() {
    let f = fixture("");
    let versions = [
        "5.6.1-1",
        "5.4.1-0.2",
        "5.6.0-0.1",
        "1:5.2-1",
        "5.6.0-0.1+b1",
    ];
    for i in 0..17 {
        let (s, b) = post(
            &f.state,
            &[JSON],
            host(
                &format!("h{i:02}"),
                i + 1,
                ["A", "B"][i % 2],
                versions[i % 5],
            ),
        )
        .await;
        assert!(s.is_success(), "{b}");
    }
    let (_, whole) = get_json(&f.state, "/api/v1/packages/xz-utils").await;
    let all = whole["hosts"].as_array().unwrap().clone();
    assert_eq!(all.len(), 17);
    assert_eq!(whole["next"], Value::Null);
    let (rows, pages) = walk(&f, "/api/v1/packages/xz-utils?limit=3", "hosts").await;
    assert_eq!(rows, all, "the pages are the whole answer, in its order");
    assert_eq!(pages, 6);
    let (_, first) = get_json(&f.state, "/api/v1/packages/xz-utils?limit=3").await;
    assert_eq!(first["host_count"], 17, "counts are over every page");
    assert_eq!(first["versions"], whole["versions"]);
    // With the filter, and a row that vanished under the cursor: the
    // next page starts after where it was.
    let (rows, _) = walk(
        &f,
        "/api/v1/packages/xz-utils?version_lt=5.6.1&limit=4",
        "hosts",
    )
    .await;
    let (_, below) = get_json(&f.state, "/api/v1/packages/xz-utils?version_lt=5.6.1").await;
    assert_eq!(&rows, below["hosts"].as_array().unwrap());
    let next = first["next"].as_str().unwrap().to_string();
    let third = all[2]["hostname"].as_str().unwrap().to_string();
    let n: usize = third[1..].parse().unwrap();
    // It moves past every other version (epoch 1, 9.9).
    let (s, _) = post(
        &f.state,
        &[JSON],
        host(&third, n + 1, ["A", "B"][n % 2], "1:9.9-1"),
    )
    .await;
    assert!(s.is_success());
    let (rest, _) = walk(&f, &next, "hosts").await;
    let mut want = names(&all[3..]);
    want.push(third);
    assert_eq!(names(&rest), want);
    let (s, e) = get_json(&f.state, "/api/v1/packages/xz-utils?after=x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, _) = get_json(&f.state, "/api/v1/packages/xz-utils?page=2").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

async fn html(f: &Fixture, path: &str) -> String {
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use tower::ServiceExt;
    let resp = pakiti_aggregator::app::app(f.state.clone())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    let body = to_bytes(resp.into_body(), 1 << 26).await.unwrap();
    String::from_utf8_lossy(&body).into_owned()
}

/// The `rel="next"` link of a page's table (the `nth` one), unescaped.
fn next_link(page: &str, nth: usize) -> Option<String> {
    page.match_indices("rel=\"next\"").nth(nth).map(|(at, _)| {
        let start = page[..at].rfind("href=\"").unwrap() + 6;
        let end = start + page[start..].find('"').unwrap();
        page[start..end].replace("&amp;", "&")
    })
}

#[tokio::test]
async fn the_affected_pages_show_a_page_of_rows_with_counts_over_all() {
    let f = fixture("");
    // One host with 250 pending updates naming one CVE, and 250 installed
    // versions of one package (kernels).
    let (s, b) = post(
        &f.state,
        &[JSON],
        with(|v| {
            v["updates"] = (0..250)
                .map(|i| json!({"name": format!("pkg{i:03}"), "arch": "amd64", "installed_version": "1.0-1",
                    "candidate_version": "1.0-2", "security": true, "severity": "important", "held": false,
                    "cves": ["CVE-2024-0001"]}))
                .collect();
            v["installed_packages"] = 250.into();
            v["installed"] = (0..250)
                .map(|i| json!({"name": "linux-image", "version": format!("6.1.{i}-1"), "arch": "amd64"}))
                .collect();
        }),
    )
    .await;
    assert!(s.is_success(), "{b}");
    let first = html(&f, "/cves/CVE-2024-0001").await;
    assert!(
        first.contains("250 pending updates on 1 host, 200 shown"),
        "{first}"
    );
    let next = next_link(&first, 0).expect("a next link");
    let second = html(&f, &format!("/cves/CVE-2024-0001{next}")).await;
    assert!(next_link(&second, 0).is_none(), "the last page");
    assert!(second.contains("First rows"));
    let names = |page: &str| -> Vec<String> {
        page.match_indices("href=\"/packages/pkg")
            .map(|(at, _)| page[at + 16..at + 22].to_string())
            .collect()
    };
    let mut all = names(&first);
    assert_eq!(all.len(), 200);
    all.extend(names(&second));
    let want: Vec<String> = (0..250).map(|i| format!("pkg{i:03}")).collect();
    assert_eq!(all, want, "every row once, in order");
    // The installed table pages on its own.
    let page = html(&f, "/packages/linux-image").await;
    assert!(page.contains("250 installations"), "{page}");
    let next = next_link(&page, 0).expect("the installed table's next link");
    assert!(next.contains("installed_after="), "{next}");
    let rest = html(&f, &format!("/packages/linux-image{next}")).await;
    let versions = |page: &str| page.matches("<h3>6.1.").count();
    assert_eq!(versions(&page) + versions(&rest), 250);
    assert!(next_link(&rest, 0).is_none());
    // A name nothing in the fleet has is a 404 page, not "0 hosts".
    for unknown in [
        "/cves/CVE-1999-0001",
        "/advisories/DSA-1-1",
        "/packages/nothing-here",
    ] {
        let resp = pakiti_aggregator::app::app(f.state.clone())
            .oneshot_get(unknown)
            .await;
        assert_eq!(resp, StatusCode::NOT_FOUND, "{unknown}");
    }
    // A cursor no page gave is refused.
    let resp = pakiti_aggregator::app::app(f.state.clone())
        .oneshot_get("/cves/CVE-2024-0001?after=x")
        .await;
    assert_eq!(resp, StatusCode::BAD_REQUEST);
}

trait OneshotGet {
    async fn oneshot_get(self, path: &str) -> StatusCode;
}

impl OneshotGet for axum::Router {
    async fn oneshot_get(self, path: &str) -> StatusCode {
        use axum::body::Body;
        use axum::http::Request;
        use tower::ServiceExt;
        self.oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test]
async fn exports_read_every_row_across_the_stores_pages() {
    let f = fixture("");
    // More rows than an export reads from the store at once (1,000), on two
    // hosts, each update naming the CVE.
    for (n, name, count) in [(1, "web-01", 700), (2, "web-02", 650)] {
        let (s, b) = post(
            &f.state,
            &[JSON],
            with(|v| {
                v["host"]["hostname"] = name.into();
                v["host"]["machine_id"] = format!("{n:032x}").into();
                v["updates"] = (0..count)
                    .map(|i| json!({"name": format!("pkg{i:04}"), "arch": "amd64", "installed_version": "1.0-1",
                        "candidate_version": "1.0-2", "security": true, "severity": "important", "held": false,
                        "cves": ["CVE-2024-0001"]}))
                    .collect();
            }),
        )
        .await;
        assert!(s.is_success(), "{b}");
    }
    let csv = html(&f, "/cves/CVE-2024-0001?format=csv").await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 1350);
    assert!(lines[0].starts_with("host,site,package,"), "{}", lines[0]);
    assert!(lines[1].starts_with("web-01,"), "{}", lines[1]);
    assert!(
        lines[700].starts_with("web-01,SiteA,pkg0699,"),
        "{}",
        lines[700]
    );
    assert!(
        lines[1350].starts_with("web-02,SiteA,pkg0649,"),
        "{}",
        lines[1350]
    );
    let json: Value =
        serde_json::from_str(&html(&f, "/cves/CVE-2024-0001?format=json").await).unwrap();
    assert_eq!(json["id"], "CVE-2024-0001");
    let updates = json["updates"].as_array().unwrap();
    assert_eq!(updates.len(), 1350);
    let mut seen: Vec<(String, String)> = updates
        .iter()
        .map(|u| {
            (
                u["host"].as_str().unwrap().into(),
                u["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    seen.dedup();
    assert_eq!(seen.len(), 1350, "no row twice");
    // The hosts list's exports too.
    let hosts = html(&f, "/hosts?format=csv").await;
    assert_eq!(hosts.lines().count(), 3);
    let hosts: Value = serde_json::from_str(&html(&f, "/hosts?format=json").await).unwrap();
    assert_eq!(hosts["hosts"].as_array().unwrap().len(), 2);
}
