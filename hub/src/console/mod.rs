//! The web console's files: the React app built into `hub/web/dist` (committed, so a hub builds
//! and serves the console with no Node on the machine) is embedded in the binary and served
//! here. Hashed files under `/assets/` are cached for a year; `index.html` is revalidated on
//! every load so a new release is picked up at once. Any other path that is not the API's
//! (`/api/`, `/auth/`, `/oauth/`, `/webhooks/`, …) answers `index.html`, so deep links such as a
//! notification's `/meetings/{id}` open the right page.

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use rust_embed::RustEmbed;

use crate::error::{self, ApiError};

#[derive(RustEmbed)]
#[folder = "web/dist/"]
struct Bundle;

/// Paths that belong to the API and its machinery: an unknown one there is a JSON 404, never
/// the console's page.
const API_PREFIXES: &[&str] = &[
    "/api/",
    "/auth/",
    "/oauth/",
    "/webhooks/",
    "/mcp",
    "/.well-known/",
    "/healthz",
    "/readyz",
    "/metrics",
];

const LONG_CACHE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Answers every request no route matched: a console file, the console's page, or the
/// contract's 404.
pub async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    let readable = request.method() == Method::GET || request.method() == Method::HEAD;
    if !readable || API_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
        return error::route_not_found().await.into_response();
    }
    let file = path.trim_start_matches('/');
    if let Some(response) = embedded(file) {
        return response;
    }
    if file.starts_with("assets/") {
        return ApiError::not_found("file").into_response();
    }
    embedded("index.html").unwrap_or_else(|| ApiError::not_found("page").into_response())
}

fn embedded(file: &str) -> Option<Response> {
    if file.is_empty() {
        return None;
    }
    let content = Bundle::get(file)?;
    let cache = if file.starts_with("assets/") {
        LONG_CACHE
    } else {
        REVALIDATE
    };
    let mime = content.metadata.mimetype().to_string();
    let mut response = (StatusCode::OK, Body::from(content.data.into_owned())).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Some(response)
}
