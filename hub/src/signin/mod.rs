//! Signing people in to the web console and out again: one-time sign-in links ([`links`]),
//! "Sign in with Google" by OpenID Connect ([`google`]), sign-out, and `GET /api/v1/me`, which
//! tells the console who is signed in and hands it the session's CSRF token. Both ways end in
//! a browser session ([`crate::auth::sessions`]) for an active user of a tenant.
//!
//! Sign-in routes answer browsers, not scripts: a failure redirects to the console's
//! `/signin?error=<code>` page, which explains it, and the cause is logged (without secrets).

pub mod google;
pub mod links;

use std::sync::Arc;

use axum::{
    Json,
    extract::{FromRef, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Duration;
use serde::Serialize;
use shared::ActorType;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Actor, AuthError, Role, sessions, store},
    config::Config,
    db::{Db, DbError},
    error::ApiError,
    handles::capability_handles,
    settings,
};

/// What sign-in needs beyond the database: where the hub is reached, how long sessions live,
/// Google's OpenID Connect client. Built once at start.
#[derive(Clone)]
pub struct Signin {
    inner: Arc<SigninInner>,
}

struct SigninInner {
    public_url: String,
    secure: bool,
    lifetimes: sessions::Lifetimes,
    link_ttl: Duration,
    google: google::OidcClient,
}

impl Signin {
    /// Sign-in as configured, for a hub reached at `public_url`.
    pub fn new(config: &Config, public_url: &str) -> Result<Signin, reqwest::Error> {
        let console = &config.console;
        Ok(Signin {
            inner: Arc::new(SigninInner {
                public_url: public_url.trim_end_matches('/').to_string(),
                secure: public_url.starts_with("https://"),
                lifetimes: sessions::Lifetimes {
                    idle: Duration::minutes(i64::from(console.session_idle_minutes)),
                    absolute: Duration::hours(i64::from(console.session_max_hours)),
                },
                link_ttl: Duration::minutes(i64::from(console.signin_link_minutes)),
                google: google::OidcClient::new(&config.google, public_url)?,
            }),
        })
    }

    /// The console's address for a same-origin path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.public_url, path)
    }
}

capability_handles! {
    /// What the sign-in routes use of the hub.
    pub struct SigninState {
        /// Users, sessions, links, pending sign-ins.
        pub db: Db,
        /// Lifetimes, the hub's URL, the Google client.
        pub signin: Signin,
    }
}

/// The sign-in routes and `/api/v1/me`.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    SigninState: FromRef<S>,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(links::follow))
        .routes(routes!(google::start))
        .routes(routes!(google::callback))
        .routes(routes!(sign_out))
        .routes(routes!(me))
}

/// Why a sign-in failed; each has a code the console's sign-in page explains.
#[derive(Debug, thiserror::Error)]
pub enum SigninError {
    /// The link is unknown or malformed.
    #[error("sign-in link not recognised")]
    LinkInvalid,
    /// The link's 15 minutes are over.
    #[error("sign-in link expired")]
    LinkExpired,
    /// The link was used already.
    #[error("sign-in link already used")]
    LinkUsed,
    /// Google's answer could not be trusted or the exchange failed.
    #[error("Google sign-in failed: {0}")]
    Google(String),
    /// Nobody with that Google account's email is a user of any tenant.
    #[error("no CORBI user with that email")]
    UnknownUser,
    /// The user exists but was deactivated.
    #[error("the user is deactivated")]
    Deactivated,
    /// Users or sessions could not be read or written.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::db::classified_sqlx_errors!(SigninError);

impl SigninError {
    /// The `error` the console's `/signin` page is given.
    pub fn code(&self) -> &'static str {
        match self {
            SigninError::LinkInvalid => "link_invalid",
            SigninError::LinkExpired => "link_expired",
            SigninError::LinkUsed => "link_used",
            SigninError::Google(_) => "google_failed",
            SigninError::UnknownUser => "unknown_user",
            SigninError::Deactivated => "deactivated",
            SigninError::Auth(_) | SigninError::Db(_) => "unavailable",
        }
    }
}

/// Sends the browser to the console's sign-in page with the failure's code.
fn failed(err: SigninError) -> Response {
    match &err {
        SigninError::Auth(_) | SigninError::Db(_) => {
            tracing::error!(error = %err, "sign-in failed");
        }
        _ => tracing::warn!(reason = err.code(), "sign-in refused"),
    }
    see_other(&format!("/signin?error={}", err.code()), &[])
}

/// Stores a new session in the browser and sends it on to `next`.
fn signed_in(signin: &Signin, secret: &str, next: &str, extra_cookies: &[String]) -> Response {
    let mut cookies = vec![sessions::set_cookie(
        signin.inner.secure,
        Some(secret),
        signin.inner.lifetimes,
    )];
    cookies.extend_from_slice(extra_cookies);
    see_other(next, &cookies)
}

fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    for cookie in cookies {
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Where to go after signing in: a path of this hub only (`/…`, never `//host` or a URL), so a
/// sign-in link cannot be turned into a redirect to another site.
pub fn same_origin_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(|c| c.is_control() || c == '\\')
                && path.len() <= 2000 =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Opens a session for an active user, refusing a deactivated one.
async fn open_session(db: &Db, signin: &Signin, user: &store::User) -> Result<String, SigninError> {
    if !user.active {
        return Err(SigninError::Deactivated);
    }
    Ok(sessions::open(db, &user.tenant_id, &user.id, signin.inner.lifetimes).await?)
}

/// Ends the browser's session (`POST`, with the CSRF token like every change).
#[utoipa::path(post, path = "/auth/logout",
    responses((status = 204, description = "signed out; the cookie is removed")), tag = "console")]
async fn sign_out(
    State(state): State<SigninState>,
    _actor: Actor,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(secret) = sessions::secret_from_cookies(&headers) {
        sessions::close(&state.db, &secret).await?;
    }
    let cookie = sessions::set_cookie(
        state.signin.inner.secure,
        None,
        state.signin.inner.lifetimes,
    );
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// Who is signed in, and the session's CSRF token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The person (null for AI keys and devices).
    pub user: Option<MeUser>,
    /// Their tenant.
    pub tenant: MeTenant,
    /// Send it as `X-CSRF-Token` with every change made through the session cookie (absent
    /// for bearer tokens, which need none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// The person of [`Me`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeUser {
    /// User id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Display name (may be empty).
    pub name: String,
    /// `admin` or `member`.
    pub role: Role,
}

/// The tenant of [`Me`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeTenant {
    /// Tenant id.
    pub id: String,
    /// Short name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The tenant's IANA time zone.
    pub time_zone: String,
}

/// The caller: person and tenant, as the console shows them.
#[utoipa::path(get, path = "/api/v1/me",
    responses((status = 200, body = Me)), tag = "console")]
async fn me(State(db): State<Db>, actor: Actor, headers: HeaderMap) -> Result<Json<Me>, ApiError> {
    let tenant = store::tenant_by_id(&db, &actor.tenant_id).await?;
    let time_zone = settings::load(&db, &actor.tenant_id).await?.time_zone;
    let user = match actor.actor_type {
        ActorType::User => {
            let user = store::user_by_id(&db, &actor.tenant_id, &actor.id).await?;
            Some(MeUser {
                id: user.id,
                email: user.email,
                name: user.name,
                role: user.role,
            })
        }
        _ => None,
    };
    let bearer = headers.contains_key(header::AUTHORIZATION);
    let csrf_token = (!bearer)
        .then(|| sessions::secret_from_cookies(&headers))
        .flatten()
        .map(|secret| sessions::csrf_token(&secret));
    Ok(Json(Me {
        user,
        tenant: MeTenant {
            id: tenant.id,
            slug: tenant.slug,
            name: tenant.name,
            time_zone,
        },
        csrf_token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_paths_are_followed() {
        assert_eq!(same_origin_path(Some("/meetings/1?x=2")), "/meetings/1?x=2");
        assert_eq!(same_origin_path(None), "/");
        assert_eq!(same_origin_path(Some("https://evil.example/")), "/");
        assert_eq!(same_origin_path(Some("//evil.example/")), "/");
        assert_eq!(same_origin_path(Some("/\\evil.example")), "/");
        assert_eq!(same_origin_path(Some("calendar")), "/");
        assert_eq!(same_origin_path(Some("/a\nb")), "/");
    }
}
