//! The installed inventory through the real router: a report of the real
//! exporter on this machine (its whole dpkg inventory) and small ones, then
//! the host page and API, the package page, its filter, CSV and JSON.

mod common;

use std::process::Command;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use common::*;
use pakiti_aggregator::app::{app, AppState};

async fn page(state: &AppState, path: &str) -> (StatusCode, String) {
    let resp = app(state.clone())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = to_bytes(resp.into_body(), 1 << 26).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn host(name: &str, mid: &str, xz: &str) -> Vec<u8> {
    with(|v| {
        v["host"]["hostname"] = name.into();
        v["host"]["machine_id"] = mid.into();
        v["installed_packages"] = 3.into();
        v["installed"] = serde_json::json!([
            {"name": "xz-utils", "version": xz, "arch": "amd64", "source_name": "xz-utils", "source_version": xz},
            {"name": "liblzma5", "version": xz, "arch": "amd64", "source_name": "xz-utils", "source_version": xz},
            {"name": "openssl", "version": "3.0.11-1", "arch": "amd64"}
        ]);
    })
}

#[tokio::test]
async fn this_machines_inventory_and_the_fleet_query() {
    // The real exporter's report of this machine, pushed as a host would.
    let out = Command::new(
        env!("CARGO_BIN_EXE_pakiti-aggregator").replace("pakiti-aggregator", "pakiti-exporter"),
    )
    .args(["--config.file", "/dev/null", "collect", "--format", "json"])
    .output()
    .expect("the exporter binary is built beside the aggregator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mine: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = fixture("");
    let (status, body) = post(&f.state, &[JSON], out.stdout.clone()).await;
    assert!(status.is_success(), "{status} {body}");
    let hostname = mine["host"]["hostname"].as_str().unwrap();
    let (status, api) = get_json(&f.state, &format!("/api/v1/hosts/{hostname}")).await;
    assert_eq!(status, StatusCode::OK, "{api}");
    let key = |p: &Value| {
        format!(
            "{} {} {} {} {}",
            p["name"], p["version"], p["arch"], p["source_name"], p["source_version"]
        )
    };
    let mut want: Vec<String> = mine["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    let mut got: Vec<String> = api["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    want.sort();
    got.sort();
    assert!(want.len() > 100);
    assert_eq!(got, want, "the host API shows what dpkg-query shows");
    let (status, html) = page(&f.state, &format!("/hosts/{hostname}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("{} installed packages.", want.len())),
        "the host page counts them"
    );
    let (_, html) = page(&f.state, &format!("/hosts/{hostname}?q=libc6")).await;
    assert!(
        html.contains("/packages/libc6#installed"),
        "the search finds libc6"
    );
    assert!(
        !html.contains("/packages/bash#installed"),
        "and only what matches"
    );
}

#[tokio::test]
async fn an_inventory_named_by_digest_is_taken_or_asked_for() {
    let f = fixture("");
    let full = host("a", "0000000000000000000000000000000a", "5.6.0-0.1");
    let (status, body) = post(&f.state, &[JSON], full.clone()).await;
    assert!(status.is_success(), "{body}");
    let parsed = pakiti_report::from_json(&full).unwrap();
    let lean = pakiti_report::to_json_without_installed(&parsed);
    assert!(!String::from_utf8_lossy(&lean).contains("\"installed\":"));
    let (status, body) = post(&f.state, &[JSON], lean.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "unchanged");
    let (_, api) = get_json(&f.state, "/api/v1/hosts/a").await;
    assert_eq!(api["installed"].as_array().unwrap().len(), 3);
    // Another host's digest, or a digest nobody sent: asked for, nothing stored.
    let mut other: Value = serde_json::from_slice(&lean).unwrap();
    other["host"]["hostname"] = "b".into();
    other["host"]["machine_id"] = "0000000000000000000000000000000b".into();
    let (status, body) = post(&f.state, &[JSON], serde_json::to_vec(&other).unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["resend"], "installed");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("send the report with its installed packages"));
    let (status, _) = get_json(&f.state, "/api/v1/hosts/b").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn which_hosts_have_a_version_below() {
    let f = fixture("");
    for (name, mid, xz) in [
        ("a", "0000000000000000000000000000000a", "5.6.0-0.1"),
        ("b", "0000000000000000000000000000000b", "5.6.1-0.1"),
        ("c", "0000000000000000000000000000000c", "5.4.1-0.2"),
        (
            "d",
            "0000000000000000000000000000000d",
            "5.6.1+really5.4.5-1",
        ),
    ] {
        let (status, body) = post(&f.state, &[JSON], host(name, mid, xz)).await;
        assert!(status.is_success(), "{status} {body}");
    }
    // An older exporter's report: no inventory.
    let (status, _) = post(
        &f.state,
        &[JSON],
        with(|v| {
            v["host"]["hostname"] = "old".into();
            v["host"]["machine_id"] = "0000000000000000000000000000000e".into();
        }),
    )
    .await;
    assert!(status.is_success());
    let hosts = |v: &Value| -> Vec<String> {
        v["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                format!(
                    "{} {}",
                    h["hostname"].as_str().unwrap(),
                    h["version"].as_str().unwrap()
                )
            })
            .collect()
    };
    let (status, all) = get_json(&f.state, "/api/v1/packages/xz-utils").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        hosts(&all),
        [
            "c 5.4.1-0.2",
            "a 5.6.0-0.1",
            "b 5.6.1-0.1",
            "d 5.6.1+really5.4.5-1"
        ],
        "in dpkg's order"
    );
    assert_eq!(all["host_count"], 4);
    // The incident question: which hosts have 5.6.0 or 5.6.1 (below 5.6.1+really)?
    let (_, below) = get_json(
        &f.state,
        "/api/v1/packages/xz-utils?version_lt=5.6.1%2Breally",
    )
    .await;
    assert_eq!(hosts(&below), ["c 5.4.1-0.2", "a 5.6.0-0.1", "b 5.6.1-0.1"]);
    let (_, below) = get_json(&f.state, "/api/v1/packages/xz-utils?version_lt=5.6.0").await;
    assert_eq!(hosts(&below), ["c 5.4.1-0.2"]);
    let (_, none) = get_json(&f.state, "/api/v1/packages/not-installed").await;
    assert_eq!(hosts(&none), Vec::<String>::new());
    // Bad input is a 400 that says what is wrong, never a search.
    let (status, err) = get_json(&f.state, "/api/v1/packages/xz-utils?version_lt=").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("version_lt"),
        "{err}"
    );
    let (status, _) = get_json(&f.state, "/api/v1/packages/xz-utils?versionlt=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The package page: installed, grouped by version, with the filter.
    let (status, html) = page(&f.state, "/packages/liblzma5?version_lt=5.6.1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("2 installations below <code>5.6.1</code>"),
        "{html}"
    );
    assert!(html.contains("<h3>5.4.1-0.2 <span class=\"muted\">1 host</span></h3>"));
    assert!(
        html.contains("xz-utils 5.6.0-0.1"),
        "the source package is shown"
    );
    let (status, csv) = page(
        &f.state,
        "/packages/liblzma5?table=installed&format=csv&version_lt=5.6.1",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        csv,
        "host,site,manager,version,arch,source_name,source_version,module\n\
         c,SiteA,apt,5.4.1-0.2,amd64,xz-utils,5.4.1-0.2,\n\
         a,SiteA,apt,5.6.0-0.1,amd64,xz-utils,5.6.0-0.1,\n"
    );
    let (status, _) = page(&f.state, "/cves/CVE-2024-3094?version_lt=1").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "version_lt is for packages only"
    );

    // The host without an inventory says so, and is in no package's list.
    let (_, html) = page(&f.state, "/hosts/old").await;
    assert!(html.contains("No inventory"), "{html}");
    let (_, api) = get_json(&f.state, "/api/v1/hosts/old").await;
    assert_eq!(api["installed"], Value::Null);
}
