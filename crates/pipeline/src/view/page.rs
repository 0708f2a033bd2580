//! The viewer's page, built into the binary: the HTML and its scripts, and the constants the
//! page's renderer shares with the GPU rasterizer, written from `splat_train::constants` so the
//! two draw with the same numbers. Served by `splat view`, or inlined, with the scene, into the
//! one file `splat export OUT.html` writes.

use super::source::SceneMeta;
use base64::Engine;
use splat_train::constants::{
    ALPHA_MAX, ALPHA_MIN, COV2D_DILATION, FOV_CLAMP, INSIDE_SIGMAS, TILE,
};
use splat_train::sh::{SH_C0, SH_C1, SH_C2, SH_C3};

const INDEX_HTML: &str = include_str!("web/index.html");

/// The scripts, in load order, by the name the server gives them.
pub const SCRIPTS: [(&str, &str); 3] = [
    ("loaders.js", include_str!("web/loaders.js")),
    ("render.js", include_str!("web/render.js")),
    ("viewer.js", include_str!("web/viewer.js")),
];

/// `SPLAT_CONSTANTS` for the page (f64 values; GLSL rounds them to f32 as the WGSL side does).
pub fn constants_js() -> String {
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "'use strict';\n// Written by splat from splat_train::constants; the GPU rasterizer uses the same values.\nconst SPLAT_CONSTANTS = {{\n  TILE: {TILE},\n  DILATION: {COV2D_DILATION:?},\n  ALPHA_MAX: {ALPHA_MAX:?},\n  ALPHA_MIN: {ALPHA_MIN:?},\n  FOV_CLAMP: {FOV_CLAMP:?},\n  INSIDE_SIGMAS: {INSIDE_SIGMAS:?},\n  SH_C0: {SH_C0:?},\n  SH_C1: {SH_C1:?},\n  SH_C2: [{}],\n  SH_C3: [{}],\n}};\n",
        list(&SH_C2),
        list(&SH_C3)
    )
}

/// The page `splat view` serves: scripts by URL, the scene from `/api/scene`.
pub fn served() -> String {
    let mut tags = String::from("<script src=\"constants.js\"></script>\n");
    for (name, _) in SCRIPTS {
        tags.push_str(&format!("<script src=\"{name}\"></script>\n"));
    }
    INDEX_HTML.replace("<!--SPLAT_SCRIPTS-->", &tags)
}

/// Text safe inside a `<script>` element: `</` cannot end it early.
fn script_safe(text: &str) -> String {
    text.replace("</", "<\\/")
}

/// One self-contained page: the viewer, the scene description and the model's bytes (base64).
pub fn standalone(meta: &SceneMeta, format: &str, model: &[u8]) -> anyhow::Result<String> {
    let mut scene = serde_json::to_value(meta)?;
    scene["model"] = serde_json::json!({ "format": format, "name": meta.title });
    let mut body = String::new();
    body.push_str(&format!(
        "<script id=\"splat-scene\" type=\"application/json\">{}</script>\n",
        script_safe(&serde_json::to_string(&scene)?)
    ));
    body.push_str("<script id=\"splat-model\" type=\"application/octet-stream\">");
    body.push_str(&base64::engine::general_purpose::STANDARD.encode(model));
    body.push_str("</script>\n");
    body.push_str(&format!(
        "<script>{}</script>\n",
        script_safe(&constants_js())
    ));
    for (_, text) in SCRIPTS {
        body.push_str(&format!("<script>{}</script>\n", script_safe(text)));
    }
    Ok(INDEX_HTML.replace("<!--SPLAT_SCRIPTS-->", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names `SPLAT_CONSTANTS` defines.
    fn defined() -> std::collections::BTreeSet<String> {
        constants_js()
            .lines()
            .filter_map(|l| l.trim().split_once(": "))
            .map(|(k, _)| k.to_string())
            .collect()
    }

    #[test]
    fn every_constant_the_page_uses_comes_from_rust_and_none_is_left_unused() {
        let mut used = std::collections::BTreeSet::new();
        for (_, js) in SCRIPTS {
            for part in js.split("SPLAT_CONSTANTS.").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                used.insert(name);
            }
        }
        assert_eq!(used, defined());
    }

    #[test]
    fn constants_are_the_rasterizers_values() {
        let js = constants_js();
        // JavaScript reads each as the f64 Rust wrote, which GLSL then rounds to f32 exactly as
        // the WGSL constants were.
        let value = |name: &str| -> f64 {
            let line = js
                .lines()
                .find(|l| l.trim().starts_with(&format!("{name}: ")))
                .unwrap_or_default();
            line.trim()
                .trim_end_matches(',')
                .split(": ")
                .nth(1)
                .unwrap_or("nan")
                .parse()
                .unwrap_or(f64::NAN)
        };
        assert_eq!(value("DILATION"), COV2D_DILATION);
        assert_eq!(value("ALPHA_MIN"), ALPHA_MIN);
        assert_eq!(value("ALPHA_MAX"), ALPHA_MAX);
        assert_eq!(value("FOV_CLAMP"), FOV_CLAMP);
        assert_eq!(value("INSIDE_SIGMAS"), INSIDE_SIGMAS);
        assert_eq!(value("SH_C0"), SH_C0);
        assert_eq!(value("TILE"), f64::from(TILE));
    }

    #[test]
    fn standalone_page_cannot_be_closed_early_by_its_contents() {
        let meta = SceneMeta {
            title: "a</script><b>".into(),
            gaussians: 1,
            cameras: Vec::new(),
            near: None,
            background: [0.0; 3],
            step: None,
        };
        let page = standalone(&meta, "ply", b"</script>").unwrap_or_default();
        // The page's own closing tags: one per script element, none from the data.
        let scripts = page.matches("<script").count();
        assert_eq!(page.matches("</script>").count(), scripts);
    }
}
