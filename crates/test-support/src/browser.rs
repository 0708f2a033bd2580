//! Headless Chromium, driven over the DevTools protocol, for the viewer's tests and benchmark:
//! open a page, evaluate JavaScript (awaiting promises), take the canvas's pixels. Chromium is
//! Debian's `chromium` package (`scripts/test.sh` and `.ci/run` install it) or the binary
//! `SPLAT_CHROMIUM` names; WebGL2 runs on SwiftShader, Chromium's CPU renderer.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How to get Chromium, for failure messages.
pub const CHROMIUM_HINT: &str = "install Debian's chromium (apt-get install -y chromium; scripts/test.sh does it) or set SPLAT_CHROMIUM=/path/to/chromium";

/// The Chromium binary: `SPLAT_CHROMIUM`, else the first of the usual names on PATH.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SPLAT_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n)))
    .find(|p| p.is_file())
}

/// A headless browser with one page attached.
pub struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium (WebGL2 on SwiftShader, no network besides the pages it is sent to) and
    /// attaches to a blank page.
    pub fn launch() -> Result<Browser, String> {
        let bin = chromium().ok_or_else(|| format!("no Chromium found: {CHROMIUM_HINT}"))?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut child = Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--force-device-scale-factor=1",
                "--allow-file-access-from-files",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}; {CHROMIUM_HINT}", bin.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(l)) => {
                    if let Some(u) = l.strip_prefix("DevTools listening on ") {
                        break u.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    return Err(format!(
                        "{} exited before opening its DevTools port",
                        bin.display()
                    ));
                }
            }
        };
        // Keep draining stderr so that Chromium never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let (ws, _) =
            tungstenite::connect(&url).map_err(|e| format!("connecting to {url}: {e}"))?;
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(600)))
                .map_err(|e| e.to_string())?;
        }
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 1,
            _profile: profile,
        };
        let target = b.call("Target.createTarget", json!({ "url": "about:blank" }))?;
        let id = target["targetId"]
            .as_str()
            .ok_or("no targetId")?
            .to_string();
        let attached = b.call(
            "Target.attachToTarget",
            json!({ "targetId": id, "flatten": true }),
        )?;
        b.session = attached["sessionId"]
            .as_str()
            .ok_or("no sessionId")?
            .to_string();
        b.call("Page.enable", json!({}))?;
        b.call("Runtime.enable", json!({}))?;
        Ok(b)
    }

    /// Sends one command (to the attached page once there is one) and waits for its answer;
    /// console messages and exceptions the page reports meanwhile are printed.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .map_err(|e| format!("{method}: {e}"))?;
        loop {
            let m = self.ws.read().map_err(|e| format!("{method}: {e}"))?;
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).map_err(|e| e.to_string())?;
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    return Err(format!("{method}: {e}"));
                }
                return Ok(v["result"].clone());
            }
            match v["method"].as_str() {
                Some("Runtime.consoleAPICalled") => {
                    let args: Vec<String> = v["params"]["args"]
                        .as_array()
                        .map(|a| a.iter().map(|x| x["value"].to_string()).collect())
                        .unwrap_or_default();
                    eprintln!("[page console] {}", args.join(" "));
                }
                Some("Runtime.exceptionThrown") => {
                    eprintln!("[page exception] {}", v["params"]["exceptionDetails"]);
                }
                _ => {}
            }
        }
    }

    /// Opens `url` and waits for its load event.
    pub fn navigate(&mut self, url: &str) -> Result<(), String> {
        self.call("Page.navigate", json!({ "url": url }))?;
        // The load event arrives as a notification; poll the document's state instead.
        for _ in 0..600 {
            let state = self.eval("document.readyState")?;
            if state == "complete" {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("{url} did not finish loading in 60 s"))
    }

    /// The value of a JavaScript expression, awaited when it is a promise; a thrown error
    /// becomes Err with its message.
    pub fn eval(&mut self, expr: &str) -> Result<Value, String> {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "awaitPromise": true, "returnByValue": true }),
        )?;
        if let Some(ex) = r.get("exceptionDetails") {
            let text = ex["exception"]["description"]
                .as_str()
                .or(ex["text"].as_str())
                .unwrap_or("exception");
            return Err(format!("{expr}: {text}"));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Decodes a `data:image/png;base64,…` URL the page returned.
    pub fn png_from_data_url(url: &Value) -> Result<Vec<u8>, String> {
        use base64::Engine;
        let s = url.as_str().ok_or("not a string")?;
        let b64 = s
            .strip_prefix("data:image/png;base64,")
            .ok_or_else(|| format!("not a PNG data URL: {}", &s[..s.len().min(40)]))?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| e.to_string())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
