//! `POST /api/v1/reports` through the real router and a real SQLite store:
//! every bad input gets a clear 4xx with a JSON error and stores nothing;
//! tokens decide who may speak for which host and site.

mod common;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use common::*;
use pakiti_aggregator::app::app;

/// What is sent, with which headers, and the status and error words expected.
type Case<'a> = (
    &'a str,
    Vec<(&'a str, &'a str)>,
    Vec<u8>,
    StatusCode,
    &'a str,
);
type TrustCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, StatusCode);

#[tokio::test]
async fn every_bad_input_is_refused_with_a_reason_and_stores_nothing() {
    let f = fixture("[server]\nmax_body_bytes = 65536\n");
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let mut deeply_nested = String::from_utf8(with(|_| {})).unwrap();
    deeply_nested.insert_str(1, &format!("\"extra\": {deep}, "));
    let big_string = "x".repeat(10_000);
    let dup = with(|v| {
        let first = v["updates"][0].clone();
        v["updates"].as_array_mut().unwrap().push(first);
    });
    let over_limit = with(|v| v["os"]["name"] = "y".repeat(70_000).into());
    let bomb = gzip(&vec![b' '; 10 << 20]);
    let cases: Vec<Case> = vec![
        (
            "empty body",
            vec![JSON],
            vec![],
            StatusCode::BAD_REQUEST,
            "EOF",
        ),
        (
            "not JSON",
            vec![JSON],
            b"hello".to_vec(),
            StatusCode::BAD_REQUEST,
            "expected",
        ),
        (
            "truncated JSON",
            vec![JSON],
            with(|_| {})[..200].to_vec(),
            StatusCode::BAD_REQUEST,
            "EOF",
        ),
        (
            "an array",
            vec![JSON],
            b"[1,2]".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            "not UTF-8",
            vec![JSON],
            vec![b'{', 0xff, 0xfe, b'}'],
            StatusCode::BAD_REQUEST,
            "report",
        ),
        (
            "schema version 2",
            vec![JSON],
            with(|v| v["schema_version"] = 2.into()),
            StatusCode::BAD_REQUEST,
            "schema_version 2",
        ),
        (
            "no schema version",
            vec![JSON],
            with(|v| {
                v.as_object_mut().unwrap().remove("schema_version");
            }),
            StatusCode::BAD_REQUEST,
            "schema_version",
        ),
        (
            "no host",
            vec![JSON],
            with(|v| {
                v.as_object_mut().unwrap().remove("host");
            }),
            StatusCode::BAD_REQUEST,
            "missing field `host`",
        ),
        (
            "no updates",
            vec![JSON],
            with(|v| {
                v.as_object_mut().unwrap().remove("updates");
            }),
            StatusCode::BAD_REQUEST,
            "missing field `updates`",
        ),
        (
            "update without name",
            vec![JSON],
            with(|v| {
                v["updates"][0].as_object_mut().unwrap().remove("name");
            }),
            StatusCode::BAD_REQUEST,
            "missing field `name`",
        ),
        (
            "hostname with a space",
            vec![JSON],
            with(|v| v["host"]["hostname"] = "web 01".into()),
            StatusCode::BAD_REQUEST,
            "hostname",
        ),
        (
            "empty hostname",
            vec![JSON],
            with(|v| v["host"]["hostname"] = "".into()),
            StatusCode::BAD_REQUEST,
            "hostname is empty",
        ),
        (
            "hostname too long",
            vec![JSON],
            with(|v| v["host"]["hostname"] = "a".repeat(300).into()),
            StatusCode::BAD_REQUEST,
            "hostname",
        ),
        (
            "hostname with markup",
            vec![JSON],
            with(|v| v["host"]["hostname"] = "<script>alert(1)</script>".into()),
            StatusCode::BAD_REQUEST,
            "hostname",
        ),
        (
            "hostname as a number",
            vec![JSON],
            with(|v| v["host"]["hostname"] = 42.into()),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            "unknown manager",
            vec![JSON],
            with(|v| v["manager"] = "emerge".into()),
            StatusCode::BAD_REQUEST,
            "manager",
        ),
        (
            "unknown severity",
            vec![JSON],
            with(|v| v["updates"][0]["severity"] = "urgent".into()),
            StatusCode::BAD_REQUEST,
            "severity",
        ),
        (
            "severity on a non-security update",
            vec![JSON],
            with(|v| v["updates"][1]["severity"] = "low".into()),
            StatusCode::BAD_REQUEST,
            "severity",
        ),
        (
            "held reason on an update not held",
            vec![JSON],
            with(|v| v["updates"][0]["held_reason"] = "hold".into()),
            StatusCode::BAD_REQUEST,
            "held_reason",
        ),
        (
            "unknown held reason",
            vec![JSON],
            with(|v| v["updates"][1]["held_reason"] = "lazy".into()),
            StatusCode::BAD_REQUEST,
            "held_reason",
        ),
        (
            "a package listed twice",
            vec![JSON],
            dup,
            StatusCode::BAD_REQUEST,
            "listed twice",
        ),
        (
            "control character in a name",
            vec![JSON],
            with(|v| v["updates"][0]["name"] = "open\u{1b}ssl".into()),
            StatusCode::BAD_REQUEST,
            "control character",
        ),
        (
            "newline in a version",
            vec![JSON],
            with(|v| v["updates"][0]["candidate_version"] = "1.0\n2".into()),
            StatusCode::BAD_REQUEST,
            "control character",
        ),
        (
            "space in a version",
            vec![JSON],
            with(|v| v["updates"][0]["installed_version"] = "1.0 2".into()),
            StatusCode::BAD_REQUEST,
            "white space",
        ),
        (
            "empty arch",
            vec![JSON],
            with(|v| v["updates"][0]["arch"] = "".into()),
            StatusCode::BAD_REQUEST,
            "arch is empty",
        ),
        (
            "oversized package name",
            vec![JSON],
            with(|v| v["updates"][0]["name"] = big_string.clone().into()),
            StatusCode::BAD_REQUEST,
            "the limit is 256",
        ),
        (
            "NUL in the site",
            vec![JSON],
            with(|v| v["host"]["site"] = "Site\u{0}A".into()),
            StatusCode::BAD_REQUEST,
            "site contains a control character",
        ),
        (
            "space in the machine id",
            vec![JSON],
            with(|v| v["host"]["machine_id"] = "01 23".into()),
            StatusCode::BAD_REQUEST,
            "machine_id",
        ),
        (
            "time that is not RFC 3339",
            vec![JSON],
            with(|v| v["collected_at"] = "yesterday".into()),
            StatusCode::BAD_REQUEST,
            "RFC 3339",
        ),
        (
            "negative duration",
            vec![JSON],
            with(|v| v["collection_duration_seconds"] = (-1.0).into()),
            StatusCode::BAD_REQUEST,
            "collection_duration_seconds",
        ),
        (
            "negative package count",
            vec![JSON],
            with(|v| v["installed_packages"] = (-5).into()),
            StatusCode::BAD_REQUEST,
            "installed_packages",
        ),
        (
            "package count as text",
            vec![JSON],
            with(|v| v["installed_packages"] = "many".into()),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            "deep nesting",
            vec![JSON],
            deeply_nested.into_bytes(),
            StatusCode::BAD_REQUEST,
            "deeper than 16 levels",
        ),
        (
            "body over the limit",
            vec![JSON],
            over_limit,
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 65536 bytes",
        ),
        (
            "gzip bomb",
            vec![JSON, ("content-encoding", "gzip")],
            bomb,
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 65536 bytes",
        ),
        (
            "corrupt gzip",
            vec![JSON, ("content-encoding", "gzip")],
            b"\x1f\x8b\x08\x00garbage".to_vec(),
            StatusCode::BAD_REQUEST,
            "gzip",
        ),
        (
            "unsupported encoding",
            vec![JSON, ("content-encoding", "br")],
            with(|_| {}),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Encoding",
        ),
        (
            "wrong content type",
            vec![("content-type", "text/plain")],
            with(|_| {}),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        ),
        (
            "no content type",
            vec![],
            with(|_| {}),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type",
        ),
    ];
    assert!(cases.len() >= 30);
    for (what, headers, body, status, needle) in cases {
        let (got, answer) = post(&f.state, &headers, body).await;
        assert_eq!(got, status, "{what}: {answer}");
        let msg = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no JSON error in {answer}"));
        assert!(
            msg.contains(needle),
            "{what}: {msg:?} should mention {needle:?}"
        );
    }
    assert!(
        f.state.store.hosts().unwrap().is_empty(),
        "nothing may be stored on any error"
    );

    // The same report, well-formed, plain and gzipped, is stored.
    let (got, answer) = post(&f.state, &[JSON], with(|_| {})).await;
    assert_eq!(got, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "new_host");
    let (got, answer) = post(
        &f.state,
        &[JSON, ("content-encoding", "gzip")],
        gzip(&with(|_| {})),
    )
    .await;
    assert_eq!(got, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "unchanged");
    assert_eq!(f.state.store.hosts().unwrap().len(), 1);
}

#[tokio::test]
async fn tokens_decide_who_may_speak_for_which_host_and_site() {
    let config = format!(
        "[[client]]\nname = \"web-01\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteA\"]\nrole = \"host\"\n\n\
         [[client]]\nname = \"site-b-relay\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteB\"]\nrole = \"relay\"\n\n\
         [[client]]\nname = \"central\"\ntoken_sha256 = \"{}\"\nsites = [\"SiteA\", \"SiteB\"]\nrole = \"relay\"\n",
        sha("host-token"),
        sha("relay-token"),
        sha("central-token")
    );
    let f = fixture(&config);
    let bearer = |t: &'static str| ("authorization", t);
    let cases: Vec<TrustCase> = vec![
        (
            "no credentials",
            vec![JSON],
            with(|_| {}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "an unknown token",
            vec![JSON, bearer("Bearer nope")],
            with(|_| {}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "basic instead of bearer",
            vec![JSON, ("authorization", "Basic d2ViOjE=")],
            with(|_| {}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a host token for another host",
            vec![JSON, bearer("Bearer host-token")],
            with(|v| v["host"]["hostname"] = "web-02".into()),
            StatusCode::FORBIDDEN,
        ),
        (
            "a host token for another site",
            vec![JSON, bearer("Bearer host-token")],
            with(|v| v["host"]["site"] = "SiteB".into()),
            StatusCode::FORBIDDEN,
        ),
        (
            "a relay claiming another site",
            vec![JSON, bearer("Bearer relay-token")],
            with(|_| {}),
            StatusCode::FORBIDDEN,
        ),
        (
            "no site, a client of several",
            vec![JSON, bearer("Bearer central-token")],
            with(|v| {
                v["host"].as_object_mut().unwrap().remove("site");
            }),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (what, headers, body, status) in cases {
        let (got, answer) = post(&f.state, &headers, body).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert!(answer["error"].is_string(), "{what}: {answer}");
    }
    assert!(f.state.store.hosts().unwrap().is_empty());

    let (got, a) = post(&f.state, &[JSON, bearer("Bearer host-token")], with(|_| {})).await;
    assert_eq!(got, StatusCode::OK, "{a}");
    // A relay speaks for any host of its site; a report without a site gets the relay's.
    let (got, a) = post(
        &f.state,
        &[JSON, bearer("Bearer relay-token")],
        with(|v| {
            v["host"]["hostname"] = "db-07".into();
            v["host"]["machine_id"] = "fedcba9876543210fedcba9876543210".into();
            v["host"].as_object_mut().unwrap().remove("site");
        }),
    )
    .await;
    assert_eq!(got, StatusCode::OK, "{a}");
    let hosts = f.state.store.hosts().unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(
        hosts
            .iter()
            .find(|h| h.hostname == "db-07")
            .unwrap()
            .site
            .as_deref(),
        Some("SiteB")
    );

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
    assert!(
        text.contains(
            "pakiti_aggregator_reports_received_total{mode=\"push\",result=\"unauthorized\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "pakiti_aggregator_reports_received_total{mode=\"push\",result=\"forbidden\"} 4"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_hosts_api_lists_filters_and_details() {
    let f = fixture("");
    post(&f.state, &[JSON], with(|_| {})).await;
    post(
        &f.state,
        &[JSON],
        with(|v| {
            v["host"]["hostname"] = "db-01".into();
            v["host"]["machine_id"] = "fedcba9876543210fedcba9876543210".into();
            v["host"]["site"] = "SiteB".into();
            v["reboot"]["required"] = true.into();
            v["updates"] = json!([]);
        }),
    )
    .await;
    let (s, all) = get_json(&f.state, "/api/v1/hosts").await;
    assert_eq!(s, StatusCode::OK);
    let names = |v: &Value| {
        v["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["hostname"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&all), ["db-01", "web-01"]);
    assert_eq!(
        names(&get_json(&f.state, "/api/v1/hosts?site=SiteA").await.1),
        ["web-01"]
    );
    assert_eq!(
        names(&get_json(&f.state, "/api/v1/hosts?security=true").await.1),
        ["web-01"]
    );
    assert_eq!(
        names(&get_json(&f.state, "/api/v1/hosts?reboot=true").await.1),
        ["db-01"]
    );
    assert_eq!(
        names(&get_json(&f.state, "/api/v1/hosts?stale=true").await.1),
        Vec::<String>::new()
    );
    let (s, e) = get_json(&f.state, "/api/v1/hosts?security=maybe").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e["error"].as_str().unwrap().contains("security"));
    let (s, _) = get_json(&f.state, "/api/v1/hosts?colour=red").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, h) = get_json(&f.state, "/api/v1/hosts/web-01").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["pending"], 2);
    assert_eq!(h["security"]["unknown"], 1);
    assert_eq!(h["held"], 1);
    assert_eq!(h["updates"].as_array().unwrap().len(), 2);
    assert!(h["updates"][1]["first_seen"].is_string());
    assert_eq!(h["history"].as_array().unwrap().len(), 1);
    let (s, _) = get_json(&f.state, "/api/v1/hosts/nobody").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = get_json(&f.state, "/api/v1/hosts/bad%20name").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
