//! The body of the wallet's forms: URL-encoded (the live preview's requests, scripts), or
//! multipart (the add/edit form, whose value may come from a file of at most [`MAX_FILE`]
//! bytes). Either becomes one [`FormInput`].

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use axum::Form;
use service_kit::html::{message_page, message_page_with};
use zeroize::Zeroizing;

use super::form::FormInput;

/// The largest value file, bytes.
pub const MAX_FILE: usize = 64 * 1024;

/// The name of the form's file field.
pub const FILE_FIELD: &str = "value_file";

fn malformed() -> Response {
    message_page(StatusCode::BAD_REQUEST, "Request refused", "The form could not be read; reload the page.")
}

fn too_large() -> Response {
    message_page_with(
        StatusCode::PAYLOAD_TOO_LARGE,
        "The file is too large",
        &format!(
            "The wallet takes a value file of at most {} KiB; choose a smaller file or type the value.",
            MAX_FILE / 1024
        ),
        &[("/edit", "Back to the form"), ("/", "Back to your data")],
    )
}

/// Reads a form post; the error is the page to answer with (400, or 413 for a file over
/// [`MAX_FILE`]).
pub async fn read_form(req: Request<Body>) -> Result<FormInput, Response> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        let Form(pairs) =
            Form::<Vec<(String, String)>>::from_request(req, &()).await.map_err(|_| malformed())?;
        return Ok(FormInput::from_pairs(pairs));
    }
    let mut parts = Multipart::from_request(req, &()).await.map_err(|_| malformed())?;
    let mut pairs = Vec::new();
    let mut file: Option<Zeroizing<Vec<u8>>> = None;
    while let Some(mut field) = parts.next_field().await.map_err(|_| malformed())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == FILE_FIELD {
            let mut bytes = Zeroizing::new(Vec::new());
            while let Some(chunk) = field.chunk().await.map_err(|_| malformed())? {
                if bytes.len() + chunk.len() > MAX_FILE {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&chunk);
            }
            // A file input left empty posts an empty part: the typed value counts then.
            if !bytes.is_empty() {
                file = Some(bytes);
            }
        } else {
            let text = field.text().await.map_err(|_| malformed())?;
            pairs.push((name, text));
        }
    }
    let mut form = FormInput::from_pairs(pairs);
    form.file = file;
    Ok(form)
}
