//! The IdP's optional logo (`logo_file`, issue 18): read once at start-up, served by the IdP
//! itself at [`LOGO_PATH`] (no external URL, so the pages' content security policy stays
//! `img-src 'self'`) and shown before the display name on its pages.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Where the IdP serves its logo.
pub const LOGO_PATH: &str = "/.idaas/logo";
/// The largest logo file accepted.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// A logo image and its content type.
#[derive(Debug)]
pub struct Logo {
    content_type: &'static str,
    bytes: Vec<u8>,
}

/// The content type for a logo file name: PNG, JPEG, WebP or SVG, by extension.
pub fn content_type(path: &std::path::Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "png" => Some("image/png"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "webp" => Some("image/webp"),
        "svg" => Some("image/svg+xml"),
        _ => None,
    }
}

impl Logo {
    /// Reads `path`: a known image type (by extension, and the file's first bytes must match
    /// it), at most [`MAX_LOGO_BYTES`]. The error says what is wrong.
    pub fn load(path: &std::path::Path) -> Result<Logo, String> {
        let content_type = content_type(path).ok_or("must end in .png, .jpg, .jpeg, .webp or .svg")?;
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(format!("{} is larger than {} KiB", path.display(), MAX_LOGO_BYTES / 1024));
        }
        let magic_ok = match content_type {
            "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "image/jpeg" => bytes.starts_with(b"\xff\xd8\xff"),
            "image/webp" => {
                bytes.len() > 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP")
            }
            _ => std::str::from_utf8(&bytes).is_ok_and(|s| s.contains("<svg")),
        };
        if !magic_ok {
            return Err(format!("{} is not a {content_type} image", path.display()));
        }
        Ok(Logo { content_type, bytes })
    }

    /// The image: cacheable for an hour, never sniffed; an SVG is sandboxed (opened on its
    /// own it runs no script and loads nothing).
    pub fn response(&self) -> Response {
        let mut resp = (StatusCode::OK, self.bytes.clone()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn loads_known_images_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("logo.png");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\nrest").unwrap();
        let logo = Logo::load(&png).unwrap();
        assert_eq!(logo.response().headers()[header::CONTENT_TYPE], "image/png");
        let svg = dir.path().join("logo.SVG");
        std::fs::write(&svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
        let r = Logo::load(&svg).unwrap().response();
        assert!(r.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("sandbox"));
        let fake = dir.path().join("fake.png");
        std::fs::write(&fake, "<svg/>").unwrap();
        assert!(Logo::load(&fake).unwrap_err().contains("not a image/png"));
        assert!(Logo::load(&dir.path().join("logo.gif")).unwrap_err().contains(".png"));
        assert!(Logo::load(&dir.path().join("missing.png")).is_err());
        let big = dir.path().join("big.jpg");
        std::fs::write(&big, vec![0xffu8; MAX_LOGO_BYTES + 1]).unwrap();
        assert!(Logo::load(&big).unwrap_err().contains("larger"));
    }
}
