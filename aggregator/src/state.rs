//! What every handler shares: the state, and one JSON error answer.

use std::sync::Arc;
use std::time::SystemTime;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use pakiti_store::Store;

use crate::config::{Settings, WebAccess};
use crate::fleet::Fleet;
use crate::metrics::Health;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
    pub health: Arc<Health>,
    pub fleet: Arc<Fleet>,
    pub pages: Arc<minijinja::Environment<'static>>,
    pub web_access: Arc<WebAccess>,
    /// This process among replicas sharing a database (for leases).
    pub instance: Arc<str>,
    /// Which releases the loaded vulnerability feeds cover.
    pub covered: Arc<crate::covered::Covered>,
    /// The matcher reports are rematched with (see `rematch.rs`).
    pub matcher: Arc<crate::rematch::SharedMatcher>,
    /// The fleet's vulnerabilities, as last computed (see `exposure.rs`).
    pub fleet_list: Arc<crate::fleet_list::FleetList>,
    /// What operators decided (`[decisions] file`).
    pub decisions: Arc<crate::decisions::Book>,
    /// The key of the decision forms' tokens (see `decide.rs`).
    pub csrf_secret: Arc<[u8; 32]>,
    /// Findings past their deadline per host, as last computed.
    pub past_deadline: Arc<crate::excepted::Recent<std::collections::HashMap<i64, [u32; 5]>>>,
}

impl AppState {
    /// `web_access` is what `[web] access` says, or the default for where it listens.
    pub fn new(store: Arc<dyn Store>, settings: Arc<Settings>, web_access: WebAccess) -> AppState {
        AppState {
            store,
            settings,
            health: Arc::new(Health::default()),
            fleet: Arc::new(Fleet::default()),
            pages: Arc::new(crate::web::templates()),
            web_access: Arc::new(web_access),
            covered: Arc::default(),
            matcher: Arc::default(),
            fleet_list: Arc::default(),
            decisions: Arc::default(),
            past_deadline: Arc::default(),
            csrf_secret: Arc::new(crate::decide::new_secret()),
            instance: format!(
                "{}-{}-{}",
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .unwrap_or_default()
                    .trim(),
                std::process::id(),
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0)
            )
            .into(),
        }
    }
}

/// An error answer: its status and a JSON `{"error": …}` saying what is wrong.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The refusal concerns this one report (`"scope": "report"` in the
    /// answer), not the sender: a forwarding aggregator sets the item aside
    /// and goes on with the next instead of retrying it forever.
    pub this_report_only: bool,
    /// The sender should send the report again with its installed packages
    /// (`"resend": "installed"`): it named them by a digest this aggregator
    /// does not have.
    pub resend_installed: bool,
}

impl ApiError {
    pub fn for_this_report(mut self) -> ApiError {
        self.this_report_only = true;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if self.this_report_only {
            body["scope"] = "report".into();
        }
        if self.resend_installed {
            body["resend"] = "installed".into();
        }
        (self.status, Json(body)).into_response()
    }
}

pub fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
        this_report_only: false,
        resend_installed: false,
    }
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
