//! The attacks on the fleet picture, as a table: each is tried through the
//! real router on a real SQLite store, gets its answer, and changes nothing.
//! Classes: forged identity (another host's machine id or name), site moves,
//! replays of older reports, ambiguous names, malformed wire values, and
//! duplicate `/federate` series.

mod common;

use std::collections::HashSet;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use common::*;
use pakiti_aggregator::app::app;

const WEB_01: &str = "0123456789abcdef0123456789abcdef";
const DB_01: &str = "fedcba9876543210fedcba9876543210";

fn clients() -> String {
    format!(
        "[[client]]\nname = \"web-01\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteA\"]\nrole = \"host\"\n\n\
         [[client]]\nname = \"db-01\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteA\"]\nrole = \"host\"\n\n\
         [[client]]\nname = \"relay-b\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteB\"]\nrole = \"relay\"\n\n\
         [[client]]\nname = \"relay-a\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteA\"]\nrole = \"relay\"\n",
        sha("web-token"),
        sha("db-token"),
        sha("relay-b-token"),
        sha("relay-a-token"),
    )
}

/// What `web-01` looks like through the API: the fields an attack would change.
async fn web_01(state: &pakiti_aggregator::app::AppState) -> Value {
    let (status, h) = get_json(state, "/api/v1/hosts/web-01?site=SiteA").await;
    assert_eq!(status, StatusCode::OK, "{h}");
    json!({
        "hostname": h["hostname"], "site": h["site"], "machine_id": h["machine_id"],
        "pending": h["pending"], "collected_at": h["collected_at"],
        "last_report_at": h["last_report_at"], "security_pending_since": h["security_pending_since"],
    })
}

#[tokio::test]
async fn no_credential_writes_what_it_does_not_own() {
    let f = fixture(&clients());
    let auth = |t: &'static str| ("authorization", t);
    let (s, a) = post(&f.state, &[JSON, auth("Bearer web-token")], with(|_| {})).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let before = web_01(&f.state).await;
    assert_eq!(before["pending"], 2);

    // (what, class, credential, report, expected status, words in the answer)
    type Attack<'a> = (&'a str, &'a str, &'a str, Vec<u8>, StatusCode, &'a str);
    let attacks: Vec<Attack> = vec![
        (
            "another host client names web-01's machine id under its own name",
            "identity",
            "Bearer db-token",
            with(|v| {
                v["host"]["hostname"] = "db-01".into();
                v["updates"] = json!([]);
            }),
            StatusCode::FORBIDDEN,
            "may write only its own host",
        ),
        (
            "another host client names web-01 itself",
            "identity",
            "Bearer db-token",
            with(|v| v["updates"] = json!([])),
            StatusCode::FORBIDDEN,
            "may report only host",
        ),
        (
            "a relay of another site names web-01's machine id",
            "site move",
            "Bearer relay-b-token",
            with(|v| {
                v["host"]["site"] = "SiteB".into();
                v["updates"] = json!([]);
            }),
            StatusCode::FORBIDDEN,
            "never moves a host between sites",
        ),
        (
            "a relay of another site names web-01's machine id without a site",
            "site move",
            "Bearer relay-b-token",
            with(|v| {
                v["host"].as_object_mut().unwrap().remove("site");
                v["updates"] = json!([]);
            }),
            StatusCode::FORBIDDEN,
            "never moves a host between sites",
        ),
        (
            "the owner's own credential replays an older report",
            "replay",
            "Bearer web-token",
            with(|v| {
                v["collected_at"] = "2026-11-26T09:59:59.999Z".into();
                v["updates"] = json!([]);
            }),
            StatusCode::CONFLICT,
            "older report never replaces",
        ),
        (
            "an older report written with an offset",
            "replay",
            "Bearer relay-a-token",
            with(|v| {
                v["collected_at"] = "2026-11-26T11:59:00+02:00".into();
                v["updates"] = json!([]);
            }),
            StatusCode::CONFLICT,
            "older report never replaces",
        ),
        (
            "a relay's report from the future, which would freeze the host",
            "replay",
            "Bearer relay-a-token",
            with(|v| {
                v["collected_at"] = "2999-01-01T00:00:00Z".into();
                v["updates"] = json!([]);
            }),
            StatusCode::BAD_REQUEST,
            "clock is ahead",
        ),
        (
            "a time without an offset",
            "wire",
            "Bearer web-token",
            with(|v| v["collected_at"] = "2026-11-27T10:00:00".into()),
            StatusCode::BAD_REQUEST,
            "no offset",
        ),
        (
            "a right-to-left override in the site",
            "wire",
            "Bearer relay-a-token",
            with(|v| v["host"]["site"] = "Site\u{202E}A".into()),
            StatusCode::BAD_REQUEST,
            "invisible",
        ),
        (
            "a zero-width space in a package name",
            "wire",
            "Bearer web-token",
            with(|v| v["updates"][0]["name"] = "open\u{200B}ssl".into()),
            StatusCode::BAD_REQUEST,
            "invisible",
        ),
        (
            "a count beyond the store's integer range",
            "wire",
            "Bearer web-token",
            with(|v| v["installed_packages"] = json!(u64::MAX)),
            StatusCode::BAD_REQUEST,
            "installed_packages",
        ),
    ];
    let mut classes: std::collections::BTreeMap<&str, usize> = Default::default();
    for (what, class, credential, body, status, words) in attacks {
        let (got, answer) = post(&f.state, &[JSON, auth(credential)], body).await;
        assert_eq!(got, status, "{what}: {answer}");
        let msg = answer["error"].as_str().unwrap_or_default();
        assert!(msg.contains(words), "{what}: {msg}");
        assert_eq!(web_01(&f.state).await, before, "{what} changed web-01");
        assert_eq!(f.state.store.hosts().unwrap().len(), 1, "{what}");
        *classes.entry(class).or_default() += 1;
    }
    // A gzip body with garbage after its stream.
    let mut gz = gzip(&with(|v| v["updates"] = json!([])));
    gz.extend_from_slice(b"trailing");
    let (got, answer) = post(
        &f.state,
        &[JSON, auth("Bearer web-token"), ("content-encoding", "gzip")],
        gz,
    )
    .await;
    assert_eq!(got, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("trailing"));
    assert_eq!(web_01(&f.state).await, before);
    assert_eq!(
        classes.values().sum::<usize>(),
        11,
        "attacks tried, by class: {classes:?}"
    );

    // The owner's newer report, with the scheme name in lower case, is stored.
    let (got, a) = post(
        &f.state,
        &[JSON, auth("bearer web-token")],
        with(|v| {
            v["collected_at"] = "2026-11-26T10:05:00Z".into();
            v["updates"] = json!([]);
        }),
    )
    .await;
    assert_eq!(got, StatusCode::OK, "{a}");
    assert_eq!(web_01(&f.state).await["pending"], 0);

    let metrics = to_bytes(
        app(f.state.clone())
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap()
            .into_body(),
        1 << 20,
    )
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&metrics);
    for line in [
        "pakiti_aggregator_reports_received_total{mode=\"push\",result=\"older\"} 2",
        "pakiti_aggregator_reports_received_total{mode=\"push\",result=\"forbidden\"} 4",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

#[tokio::test]
async fn equal_host_names_in_two_sites_stay_apart_and_unambiguous() {
    let f = fixture(&clients());
    let auth = |t: &'static str| ("authorization", t);
    let no_mid = |v: &mut Value| {
        v["host"].as_object_mut().unwrap().remove("machine_id");
    };
    let (s, a) = post(
        &f.state,
        &[JSON, auth("Bearer relay-a-token")],
        with(no_mid),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    // Site B's relay creates its own web-01: it hides nothing of site A's.
    let (s, a) = post(
        &f.state,
        &[JSON, auth("Bearer relay-b-token")],
        with(|v| {
            no_mid(v);
            v["host"]["site"] = "SiteB".into();
            v["updates"] = json!([]);
        }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(f.state.store.hosts().unwrap().len(), 2);
    let (s, e) = get_json(&f.state, "/api/v1/hosts/web-01").await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e["error"].as_str().unwrap().contains("SiteA, SiteB"), "{e}");
    let (s, a) = get_json(&f.state, "/api/v1/hosts/web-01?site=SiteA").await;
    assert_eq!((s, a["pending"].clone()), (StatusCode::OK, json!(2)));
    let (s, b) = get_json(&f.state, "/api/v1/hosts/web-01?site=SiteB").await;
    assert_eq!((s, b["pending"].clone()), (StatusCode::OK, json!(0)));
    assert_eq!(
        get_json(&f.state, "/api/v1/hosts/web-01?site=SiteC")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_json(&f.state, "/api/v1/hosts/web-01?colour=red")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    // The page says the same, and links each row with its site.
    let page = app(f.state.clone())
        .oneshot(Request::get("/hosts/web-01").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::CONFLICT);
    let choose = to_bytes(page.into_body(), 1 << 20).await.unwrap();
    let choose = String::from_utf8_lossy(&choose);
    for site in ["SiteA", "SiteB"] {
        assert!(
            choose.contains(&format!("href=\"/hosts/web-01?site={site}\"")),
            "{choose}"
        );
    }
    let list = to_bytes(
        app(f.state.clone())
            .oneshot(Request::get("/hosts").body(Body::empty()).unwrap())
            .await
            .unwrap()
            .into_body(),
        1 << 20,
    )
    .await
    .unwrap();
    let list = String::from_utf8_lossy(&list);
    for site in ["SiteA", "SiteB"] {
        assert!(
            list.contains(&format!("/hosts/web-01?site={site}")),
            "{list}"
        );
    }
}

/// The label sets of every sample in a Prometheus text exposition.
fn label_sets(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.rsplit_once(' ')
                .map_or(l, |(series, _)| series)
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn federate_never_repeats_a_label_set() {
    let f = fixture("");
    // web-01 re-imaged: same name and site, a new machine id, reported later.
    post(&f.state, &[JSON], with(|_| {})).await;
    let (s, a) = post(
        &f.state,
        &[JSON],
        with(|v| {
            v["host"]["machine_id"] = DB_01.into();
            v["collected_at"] = "2026-11-26T11:00:00Z".into();
            v["updates"] = json!([]);
        }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(f.state.store.hosts().unwrap().len(), 2);
    let body = to_bytes(
        app(f.state.clone())
            .oneshot(Request::get("/federate").body(Body::empty()).unwrap())
            .await
            .unwrap()
            .into_body(),
        1 << 24,
    )
    .await
    .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let sets = label_sets(&text);
    let unique: HashSet<&String> = sets.iter().collect();
    assert_eq!(unique.len(), sets.len(), "duplicate series in\n{text}");
    // The newer host speaks for the name: no pending updates.
    assert!(
        text.contains("pakiti_updates_pending{host=\"web-01\",site=\"SiteA\"} 0"),
        "{text}"
    );
    assert!(!text.contains(WEB_01));
}

/// A downstream server says when it received a forwarded report; that time is
/// believed only between the report's collection and now.
#[tokio::test]
async fn a_forwarded_receipt_time_is_bounded_both_ways() {
    let config = format!(
        "[[client]]\nname = \"site-a\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteA\"]\nrole = \"server\"\n",
        sha("server-token")
    );
    let f = fixture(&config);
    let forward = |received: &str, host: &str, mid: &str| {
        let body = with(|v| {
            v["host"]["hostname"] = host.into();
            v["host"]["machine_id"] = mid.into();
        });
        let req = Request::post("/api/v1/forward/reports")
            .header("content-type", "application/json")
            .header("authorization", "Bearer server-token")
            .header("x-pakiti-received-at", received)
            .body(Body::from(body))
            .unwrap();
        let state = f.state.clone();
        async move { app(state).oneshot(req).await.unwrap().status() }
    };
    // The report says it was collected at 2026-11-26T10:00:00Z.
    assert_eq!(
        forward("2999-01-01T00:00:00Z", "future-1", DB_01).await,
        StatusCode::OK
    );
    assert_eq!(
        forward("2001-01-01T00:00:00Z", "past-1", WEB_01).await,
        StatusCode::OK
    );
    assert_eq!(
        forward("2026-11-26T10:00:00", "no-offset", "ab".repeat(16).as_str()).await,
        StatusCode::BAD_REQUEST
    );
    let (_, future) = get_json(&f.state, "/api/v1/hosts/future-1").await;
    let (_, past) = get_json(&f.state, "/api/v1/hosts/past-1").await;
    let at =
        |v: &Value| pakiti_report::parse_rfc3339(v["last_report_at"].as_str().unwrap()).unwrap();
    assert!(at(&future) <= std::time::SystemTime::now(), "{future}");
    assert_eq!(past["last_report_at"], "2026-11-26T10:00:00Z", "{past}");
}
