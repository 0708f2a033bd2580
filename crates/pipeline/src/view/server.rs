//! The viewer's HTTP server on 127.0.0.1 (tiny_http): the page and its scripts, the scene's
//! description, the model's bytes, and a route where the page reports what went wrong so that
//! the terminal shows it too. Nothing else is served: SOG folder files only by the names its
//! `meta.json` lists. Given a folder, it follows it (`Watch`): a run still training shows each
//! newer checkpoint, then the finished model, and the page (which asks every few seconds)
//! swaps it in where the user stands.

use super::page;
use super::source::{self, Model, Source};
use anyhow::{Context, Result, anyhow};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tiny_http::{Header, Method, Request, Response, Server};

/// How often a followed folder is looked at for a newer model.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// A folder to follow, and how to read it again (the arguments `source::resolve` took).
pub struct Watch {
    pub path: PathBuf,
    pub cameras: Option<PathBuf>,
    pub background: [f64; 3],
    /// What the page calls the scene instead of the local file (a cloud project's address).
    pub shown_as: Option<String>,
}

/// What the page is shown now, and how many times that has changed.
#[derive(Clone)]
struct Shown {
    source: Arc<Source>,
    version: u64,
    live: bool,
}

type Current = Arc<RwLock<Shown>>;

/// The running server and the port it got.
pub struct Viewer {
    server: Server,
    pub port: u16,
}

/// Binds 127.0.0.1:`port` (0: any free port). When `fallback` is set and the port is taken,
/// takes a free one instead.
pub fn bind(port: u16, fallback: bool) -> Result<Viewer> {
    let server = match Server::http(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) if fallback => {
            eprintln!("port {port} is taken ({e}); using a free one");
            Server::http(("127.0.0.1", 0))
                .map_err(|e| anyhow!("cannot listen on 127.0.0.1: {e}"))?
        }
        Err(e) => return Err(anyhow!("cannot listen on 127.0.0.1:{port}: {e}")),
    };
    let port = server
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .context("the server has no IP address")?;
    Ok(Viewer { server, port })
}

#[allow(
    clippy::expect_used,
    reason = "every name and value is an ASCII constant of this module"
)]
fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

fn text(status: u16, body: String, kind: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(body.into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", kind))
        .with_header(header("Cache-Control", "no-store"))
}

/// Bytes the source holds, answered without copying them.
fn shared(body: &Arc<[u8]>, kind: &str) -> Response<std::io::Cursor<Arc<[u8]>>> {
    Response::new(
        tiny_http::StatusCode(200),
        vec![
            header("Content-Type", kind),
            header("Cache-Control", "no-store"),
        ],
        std::io::Cursor::new(Arc::clone(body)),
        Some(body.len()),
        None,
    )
}

/// What the page asked for, answered.
fn respond(shown: &Shown, mut req: Request) {
    let source = shown.source.as_ref();
    let url = req.url().split('?').next().unwrap_or("/").to_string();
    let method = req.method().clone();
    let result = match (&method, url.as_str()) {
        (Method::Get, "/") => req.respond(text(200, page::served(), "text/html; charset=utf-8")),
        (Method::Get, "/constants.js") => {
            req.respond(text(200, page::constants_js(), "text/javascript"))
        }
        (Method::Get, "/api/scene") => {
            let mut v = serde_json::to_value(&source.meta).unwrap_or_default();
            let url = match &source.model {
                Model::SogFolder { .. } => "/model/meta.json",
                _ => "/model",
            };
            v["model"] = serde_json::json!({
                "format": source.model.format(),
                // A new version is a new address: nothing cached of the old one is used.
                "url": format!("{url}?v={}", shown.version),
                "name": source.model.path().display().to_string(),
            });
            v["live"] = shown.live.into();
            v["version"] = shown.version.into();
            req.respond(text(200, v.to_string(), "application/json"))
        }
        (Method::Get, "/model") => match &source.model {
            Model::Ply(p) | Model::SogBundle(p) => match std::fs::File::open(p) {
                Ok(f) => req.respond(
                    Response::from_file(f)
                        .with_header(header("Content-Type", "application/octet-stream")),
                ),
                Err(e) => {
                    let msg = format!("{}: {e}", p.display());
                    eprintln!("viewer: {msg}");
                    req.respond(text(500, msg, "text/plain"))
                }
            },
            Model::Converted { ply, .. } => req.respond(shared(ply, "application/octet-stream")),
            Model::SogFolder { .. } => req.respond(text(404, "no such file".into(), "text/plain")),
        },
        (Method::Post, "/api/error") => {
            let mut body = String::new();
            let _ = req.as_reader().take(64 * 1024).read_to_string(&mut body);
            eprintln!("viewer (in the browser): {body}");
            req.respond(text(200, String::new(), "text/plain"))
        }
        (Method::Get, path) => {
            if let Some((_, js)) = page::SCRIPTS.iter().find(|(n, _)| path == format!("/{n}")) {
                req.respond(text(200, (*js).to_string(), "text/javascript"))
            } else if let (Some(name), Model::SogFolder { meta, files, .. }) =
                (path.strip_prefix("/model/"), &source.model)
            {
                let name = percent_decode(name);
                if name == "meta.json" {
                    req.respond(shared(meta, "application/json"))
                } else if let Some((_, b)) = files.iter().find(|(n, _)| *n == name) {
                    req.respond(shared(b, "image/webp"))
                } else {
                    req.respond(text(
                        404,
                        format!("{name}: not part of this scene"),
                        "text/plain",
                    ))
                }
            } else {
                req.respond(text(404, format!("{path}: not found"), "text/plain"))
            }
        }
        _ => req.respond(text(405, "method not allowed".into(), "text/plain")),
    };
    if let Err(e) = result {
        // The browser went away mid-answer; the next request is unaffected.
        eprintln!("viewer: answering {url}: {e}");
    }
}

/// `%XX` escapes of a URL path segment decoded (names are ASCII in practice; bad escapes stay).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let Some(v) = hex {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Viewer {
    /// Answers requests until the process is stopped, each on its own thread (a large model
    /// download does not hold up the page's other requests); follows `watch` when given.
    pub fn serve(self, source: Source, watch: Option<Watch>) -> ! {
        let current: Current = Arc::new(RwLock::new(Shown {
            source: Arc::new(source),
            version: 0,
            live: watch.is_some(),
        }));
        if let Some(w) = watch {
            let c = Arc::clone(&current);
            std::thread::spawn(move || follow(&w, &c));
        }
        loop {
            match self.server.recv() {
                Ok(req) => {
                    let shown = current
                        .read()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    std::thread::spawn(move || respond(&shown, req));
                }
                Err(e) => eprintln!("viewer: {e}"),
            }
        }
    }
}

/// Looks at `w` every `WATCH_EVERY`; when its model is another file or was rewritten, reads it
/// and shows it from then on. A model that does not read (yet) keeps the one shown, said once.
fn follow(w: &Watch, current: &Current) -> ! {
    let mut last_error = String::new();
    loop {
        std::thread::sleep(WATCH_EVERY);
        let seen = current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .source
            .located
            .clone();
        if crate::model_file::locate(&w.path).is_ok_and(|now| now == seen) {
            continue;
        }
        match source::resolve(&w.path, w.cameras.as_deref(), w.background) {
            Ok(mut s) => {
                if let Some(name) = &w.shown_as {
                    s.retitle(name);
                }
                last_error.clear();
                eprintln!(
                    "viewer: now showing {} ({} Gaussians)",
                    s.model.path().display(),
                    s.meta.gaussians
                );
                let mut c = current.write().unwrap_or_else(PoisonError::into_inner);
                c.source = Arc::new(s);
                c.version += 1;
            }
            Err(e) => {
                let e = format!("{e:#}");
                if e != last_error {
                    eprintln!("viewer: {e}; still showing the model before");
                    last_error = e;
                }
            }
        }
    }
}
