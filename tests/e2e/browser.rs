//! A real browser for the console's tests: Debian's headless Chromium driven through its
//! chromedriver (started here on a free loopback port) by fantoccini. Without Chromium the tests
//! are skipped, loudly, unless `AZYQ_REQUIRE_BROWSER=1` (CI), where they fail. A test that fails
//! leaves a screenshot of the page it was on in `target/browser-failures/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Where Debian puts them.
const CHROMIUM: &[&str] = &["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
const DRIVER: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

fn first_existing(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A headless Chromium session; chromedriver and the browser end when it is dropped.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    /// The site under test: paths are relative to it.
    base: String,
    /// Where downloads land.
    pub downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
    name: String,
}

impl Browser {
    /// A browser for the test `name` on `base` (the server's URL), or `None` (skipped) when
    /// Chromium is not installed and not required.
    pub fn start(name: &str, base: &str) -> Option<Browser> {
        let (Some(chromium), Some(driver)) = (first_existing(CHROMIUM), first_existing(DRIVER)) else {
            assert!(
                std::env::var("AZYQ_REQUIRE_BROWSER").map_or(true, |v| v != "1"),
                "Chromium and chromedriver are required here (AZYQ_REQUIRE_BROWSER=1): apt-get install chromium chromium-driver"
            );
            eprintln!("SKIPPED {name}: no Chromium (apt-get install chromium chromium-driver)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let downloads = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                // The closed network of CI: nothing in the background may try to reach out.
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=ru-RU",
                    format!("--user-data-dir={}", profile.path().display())],
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                },
            }
        });
        let Value::Object(caps) = caps else { unreachable!() };
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match rt.block_on(ClientBuilder::new(connector).capabilities(caps.clone()).connect(&webdriver)) {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        };
        Some(Browser {
            rt,
            client: Some(client),
            driver,
            base: base.trim_end_matches('/').to_owned(),
            downloads,
            _profile: profile,
            name: name.to_owned(),
        })
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("browser session")
    }

    /// Opens a path of the site.
    pub fn open(&self, path: &str) {
        self.rt.block_on(self.client().goto(&format!("{}{path}", self.base))).unwrap();
    }

    /// The current path and query.
    pub fn path(&self) -> String {
        let url = self.rt.block_on(self.client().current_url()).unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Types into the field that `css` finds (after clearing it).
    pub fn fill(&self, css: &str, text: &str) {
        self.rt.block_on(async {
            let e = self.client().find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
            e.clear().await.unwrap();
            e.send_keys(text).await.unwrap();
        });
    }

    /// Chooses a file for the file input `css` finds.
    pub fn choose_file(&self, css: &str, file: &Path) {
        self.rt.block_on(async {
            let e = self.client().find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
            e.send_keys(&file.display().to_string()).await.unwrap();
        });
    }

    /// Clicks what `css` finds: a link or a button that leads to another page, whose loading it
    /// waits for (a mark left on this page is gone and the next one is complete), however slow
    /// the machine.
    pub fn click(&self, css: &str) {
        self.script("window.azyqLeaving = true", vec![]);
        self.click_only(css);
        self.wait_until(&format!("a new page after clicking {css}"), || {
            self.rt
                .block_on(
                    self.client().execute(
                        "return window.azyqLeaving === undefined && document.readyState === 'complete'",
                        vec![],
                    ),
                )
                .ok()
                == Some(Value::Bool(true))
        });
    }

    /// Clicks what `css` finds and waits for nothing (a download stays on the page).
    pub fn click_only(&self, css: &str) {
        self.rt.block_on(async {
            let e = self.client().find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
            e.click().await.unwrap();
        });
    }

    /// Waits (bounded) until the browser is at `path` (after a form sent with Enter, say).
    pub fn wait_path(&self, path: &str) {
        self.wait_until(&format!("the page {path} (at {})", self.path()), || self.path() == path);
    }

    fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "waited 20 s for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Presses a key in the field `css` finds (a keyboard user's Enter, say).
    pub fn keys(&self, css: &str, keys: &str) {
        self.rt.block_on(async {
            let e = self.client().find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
            e.send_keys(keys).await.unwrap();
        });
    }

    /// The visible text of the first element `css` finds.
    pub fn text(&self, css: &str) -> String {
        self.rt.block_on(async {
            let e = self.client().find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
            e.text().await.unwrap()
        })
    }

    /// The visible texts of every element `css` finds.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            for e in self.client().find_all(Locator::Css(css)).await.unwrap() {
                out.push(e.text().await.unwrap());
            }
            out
        })
    }

    /// Whether anything matches `css`.
    pub fn has(&self, css: &str) -> bool {
        self.rt.block_on(async { !self.client().find_all(Locator::Css(css)).await.unwrap().is_empty() })
    }

    /// Runs a script in the page and answers its value.
    pub fn script(&self, js: &str, args: Vec<Value>) -> Value {
        self.rt.block_on(self.client().execute(js, args)).unwrap()
    }

    /// A cookie of the page as the browser keeps it.
    pub fn cookie(&self, name: &str) -> Option<fantoccini::cookies::Cookie<'static>> {
        self.rt.block_on(self.client().get_named_cookie(name)).ok()
    }

    /// Saves a screenshot of the whole page (the window stretched to it for the moment) as a PNG.
    pub fn screenshot(&self, path: &Path) {
        let height = self.script("return document.documentElement.scrollHeight", vec![]).as_u64().unwrap_or(900);
        let png = self.rt.block_on(async {
            let c = self.client();
            c.set_window_size(1280, (height as u32 + 140).clamp(600, 4000)).await.unwrap();
            let png = c.screenshot().await.unwrap();
            c.set_window_size(1280, 900).await.unwrap();
            png
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Waits (bounded) until a downloaded file of that name is complete in the downloads folder.
    pub fn downloaded(&self, file: &str) -> PathBuf {
        let path = self.downloads.path().join(file);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !path.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            path.exists(),
            "{file} was not downloaded; the folder has {:?}",
            std::fs::read_dir(self.downloads.path())
                .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect::<Vec<_>>())
        );
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-failures");
            let path = dir.join(format!("{}.png", self.name));
            if let Ok(png) = self.rt.block_on(self.client().screenshot()) {
                let _ = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, png));
                eprintln!("screenshot of the failing page: {}", path.display());
            }
        }
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
