//! The real browser of the browser test (`browser.rs`): Debian's headless Chromium driven
//! through its chromedriver over WebDriver (fantoccini), with a screenshot of every page under
//! `target/browser-shots/` and the axe-core accessibility checker run in every page.
//!
//! Nothing is skipped: a missing `chromium`, `chromedriver` or `axe.min.js` fails the test with
//! the command that installs it (`make deps`, `make axe`). `IDAAS_CHROMIUM`,
//! `IDAAS_CHROMEDRIVER` and `IDAAS_AXE_JS` override where they are looked for.
//! Synchronisation is by explicit waits on what the page shows (generous deadlines, polled),
//! never by sleeping a fixed time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use service_kit::{Clock, SystemClock};

/// How long any one wait may take (a clean 2-core CI machine, debug-profile services).
pub const WAIT: Duration = Duration::from_secs(60);

const INSTALL_BROWSER: &str =
    "the real-browser test needs Debian's `chromium` and `chromium-driver` packages: \
     run `make deps` (scripts/install-deps.sh) as root, or `apt-get install chromium chromium-driver`";
const INSTALL_AXE: &str = "the real-browser test needs axe-core: run `make axe` (scripts/install-axe.sh), \
     which installs the pinned version into target/axe-core/";

/// The workspace's target directory (`CARGO_TARGET_DIR` when set, relative to the workspace).
pub fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir), // an absolute path replaces the base
        None => workspace.join("target"),
    }
}

fn program(env: &str, default: &str, install: &str) -> PathBuf {
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(path.is_file(), "{} is missing ({env} overrides the path): {install}", path.display());
    path
}

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver on a free port of 127.0.0.1 and waits until it is ready. The port
    /// is free when picked; should another process take it first, chromedriver exits and the
    /// next of three ports is tried.
    async fn start(exe: &Path, log: &Path) -> Driver {
        let mut last = String::new();
        for _ in 0..3 {
            match Driver::try_start(exe, log).await {
                Ok(driver) => return driver,
                Err(why) => last = why,
            }
        }
        panic!("chromedriver did not start: {last}")
    }

    async fn try_start(exe: &Path, log: &Path) -> Result<Driver, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log_file = std::fs::File::create(log).unwrap();
        let child = Command::new(exe)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {INSTALL_BROWSER}", exe.display()));
        let mut driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = driver.child.try_wait() {
                return Err(format!(
                    "it exited ({status}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                ));
            }
            if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                if v["value"]["ready"] == true {
                    return Ok(driver);
                }
            }
            if Instant::now() > deadline {
                return Err(format!("not ready at {} after {WAIT:?}", driver.url));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A headless Chromium session, its screenshots and its accessibility checks.
pub struct Browser {
    /// The WebDriver session.
    pub c: Client,
    shots: PathBuf,
    axe: String,
    /// Each page's accessibility violations, by step (reported together at the end).
    pub violations: Vec<String>,
    _profile: tempfile::TempDir,
    _driver: Driver,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (a fresh profile, no sandbox: CI runs as
    /// root), a 1100×1700 window so a screenshot shows most of a page.
    pub async fn start() -> Browser {
        let chromium = program("IDAAS_CHROMIUM", "/usr/bin/chromium", INSTALL_BROWSER);
        let chromedriver = program("IDAAS_CHROMEDRIVER", "/usr/bin/chromedriver", INSTALL_BROWSER);
        let axe_path = std::env::var_os("IDAAS_AXE_JS")
            .map_or_else(|| target_dir().join("axe-core/axe.min.js"), PathBuf::from);
        let axe = std::fs::read_to_string(&axe_path)
            .unwrap_or_else(|e| panic!("{}: {e}; {INSTALL_AXE}", axe_path.display()));
        let shots = target_dir().join("browser-shots");
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        let driver = Driver::start(&chromedriver, &shots.join("chromedriver.log")).await;
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--password-store=basic", "--lang=en-GB", "--window-size=1100,1700",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let caps = caps.as_object().unwrap().clone();
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("no Chromium session ({e}); {INSTALL_BROWSER}"));
        let timeouts =
            fantoccini::wd::TimeoutConfiguration::new(Some(WAIT), Some(WAIT), Some(Duration::ZERO));
        c.update_timeouts(timeouts).await.unwrap();
        Browser { c, shots, axe, violations: Vec::new(), _profile: profile, _driver: driver }
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.c.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Waits for an element matching `css`.
    pub async fn wait_for(&self, css: &str) -> Element {
        match self.c.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!("no `{css}` on {} ({e}):\n{}", self.url().await, self.text().await),
        }
    }

    /// Waits until the page's text contains `needle`; returns the text.
    pub async fn wait_text(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < deadline, "`{needle}` never shown on {}:\n{text}", self.url().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's `<h1>` is `title`.
    pub async fn wait_title(&self, title: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let h1 = match self.c.find(Locator::Css("h1")).await {
                Ok(h) => h.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if h1 == title {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the page never became `{title}` (now `{h1}`) on {}:\n{}",
                self.url().await,
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The visible text of the page (empty while it is being replaced).
    pub async fn text(&self) -> String {
        match self.c.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.c.current_url().await.map(String::from).unwrap_or_default()
    }

    /// Types `text` into the field `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// Follows the link whose text is `text`.
    pub async fn follow(&self, text: &str) {
        match self.c.wait().at_most(WAIT).for_element(Locator::LinkText(text)).await {
            Ok(a) => a.click().await.unwrap(),
            Err(e) => panic!("no link `{text}` on {} ({e}):\n{}", self.url().await, self.text().await),
        }
    }

    /// The `id` of the focused element.
    pub async fn focused_id(&self) -> String {
        let e = self.c.active_element().await.unwrap();
        e.attr("id").await.unwrap().unwrap_or_default()
    }

    /// Presses keys as a keyboard does (WebDriver key actions): each character of `keys`,
    /// where [`fantoccini::key::Key`] characters are Tab, Enter, ….
    pub async fn keyboard(&self, keys: &str) {
        let mut actions = KeyActions::new("keyboard".into());
        for k in keys.chars() {
            actions = actions.then(KeyAction::Down { value: k }).then(KeyAction::Up { value: k });
        }
        self.c.perform_actions(actions).await.unwrap();
        self.c.release_actions().await.unwrap();
    }

    /// Saves a screenshot as `target/browser-shots/<step>.png` and runs axe-core in the page;
    /// its violations are kept for [`Browser::assert_accessible`].
    pub async fn page(&mut self, step: &str) {
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{step}.png")), png).unwrap();
        for v in self.axe_violations().await {
            let v = format!("{step} ({}): {v}", self.url().await);
            eprintln!("accessibility: {v}");
            self.violations.push(v);
        }
    }

    async fn axe_violations(&self) -> Vec<String> {
        let loaded = self.c.execute("return typeof axe !== 'undefined'", vec![]).await.unwrap();
        if loaded != true {
            self.c.execute(&self.axe, vec![]).await.unwrap();
        }
        // Every rule of axe-core's default set; `passes` proves the checker really ran.
        let script = "const done = arguments[arguments.length - 1];\
            axe.run(document)\
              .then(r => done({passes: r.passes.length, violations: r.violations.map(v => v.impact + ' ' +\
                v.id + ': ' + v.help + ' [' + v.nodes.map(n => n.target.join(' ')).join(', ') + ']')}))\
              .catch(e => done({passes: 0, violations: ['axe failed: ' + e]}));";
        let found = self.c.execute_async(script, vec![]).await.unwrap();
        assert!(found["passes"].as_u64().unwrap_or(0) > 0, "axe-core checked nothing: {found}");
        found["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Fails with every accessibility violation seen on any page.
    pub fn assert_accessible(&self) {
        assert!(self.violations.is_empty(), "accessibility violations:\n{}", self.violations.join("\n"));
    }

    /// Ends the session (the driver is killed when dropped).
    pub async fn close(self) {
        let Browser { c, _driver, _profile, .. } = self;
        let _ = c.close().await;
        drop(_driver);
    }
}

/// The quickstart stack on loopback ports in `dir`, on the system clock (a browser's cookies
/// and the pages' dates follow real time), and that clock.
pub async fn start_stack(dir: &Path) -> (idaas::stack::Stack, std::sync::Arc<dyn Clock>) {
    let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SystemClock);
    let options = idaas::stack::Options {
        base_port: 0,
        data_dir: dir.to_owned(),
        clock: clock.clone(),
        suite: pbe_core::SuiteId::Bls12_381,
        tls: false,
        store_url: None,
        public: None,
    };
    (idaas::stack::start(options).await.expect("the quickstart stack starts"), clock)
}
