//! A WebDriver client just big enough for the page tests: Debian's
//! `chromedriver` (package chromium-driver) driving Debian's headless
//! Chromium, spoken to over the W3C WebDriver protocol with a blocking HTTP
//! client. Every failed command fails the test with WebDriver's own message.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use super::{free_port, wait_for, Proc};

/// The key WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::blocking::Client,
    session: String,
    // Dropped after the session is deleted (fields drop in order).
    _driver: Proc,
    _profile: tempfile::TempDir,
}

/// An element of the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// A desktop browser, `width` × `height` CSS pixels.
    pub fn desktop(width: u32, height: u32) -> Browser {
        Browser::start(json!({}), width, height)
    }

    /// A phone: Chromium's device emulation at `width` × `height` CSS pixels
    /// (a narrow viewport that a desktop window cannot be shrunk to).
    pub fn phone(width: u32, height: u32) -> Browser {
        Browser::start(
            json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "mobile": true, "touch": true}}),
            width,
            height,
        )
    }

    fn start(mobile: Value, width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Proc(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver (Debian package chromium-driver)"),
        );
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        wait_for("chromedriver", 30, || {
            http.get(format!("{base}/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .filter(|v| v["value"]["ready"] == true)
        });
        let profile = tempfile::tempdir().unwrap();
        let mut options = json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        if mobile.as_object().is_some_and(|m| !m.is_empty()) {
            options["mobileEmulation"] = mobile;
        }
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}))
            .send()
            .expect("chromedriver answers")
            .json()
            .expect("chromedriver's answer is JSON");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_string();
        Browser {
            http,
            session: format!("{base}/session/{session}"),
            _driver: driver,
            _profile: profile,
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "WebDriver {method} {path}: {status} {}",
            v["value"]["message"]
        );
        v["value"].clone()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body))
    }

    fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None)
    }

    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.get("/url").as_str().unwrap_or_default().to_string()
    }

    pub fn find(&self, css: &str) -> Element {
        let v = self.post("/element", json!({"using": "css selector", "value": css}));
        Element(v[ELEMENT].as_str().unwrap_or_default().to_string())
    }

    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.post("/elements", json!({"using": "css selector", "value": css}))
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| Element(e[ELEMENT].as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The visible texts of the elements `css` selects, in page order.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.find_all(css).iter().map(|e| self.text(e)).collect()
    }

    /// Clicks an element that stays on the page (an option, a summary).
    pub fn click(&self, e: &Element) {
        self.post(&format!("/element/{}/click", e.0), json!({}));
    }

    /// Clicks a link or a submit button, then waits until the page it leads
    /// to has replaced this one and loaded: WebDriver's click may return
    /// before the navigation starts, while the old page still says
    /// "complete", so the old document is marked first.
    pub fn follow(&self, e: &Element) {
        self.script("window.__pakitiLeaving = true; return null;");
        self.click(e);
        wait_for("the next page to load", 30, || {
            (self.script(
                "return window.__pakitiLeaving !== true && document.readyState === 'complete'",
            ) == true)
                .then_some(())
        });
    }

    pub fn text(&self, e: &Element) -> String {
        self.get(&format!("/element/{}/text", e.0))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn displayed(&self, e: &Element) -> bool {
        self.get(&format!("/element/{}/displayed", e.0)) == true
    }

    pub fn clear(&self, e: &Element) {
        self.post(&format!("/element/{}/clear", e.0), json!({}));
    }

    pub fn type_into(&self, e: &Element, text: &str) {
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }));
    }

    /// Runs `js` in the page (a function body: `return …`).
    pub fn script(&self, js: &str) -> Value {
        self.post("/execute/sync", json!({"script": js, "args": []}))
    }

    /// A PNG of the whole viewport, written to `path`.
    pub fn screenshot(&self, path: &Path) {
        let data = self.get("/screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("the screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.session).send();
    }
}
