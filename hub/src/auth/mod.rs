//! Tenants, users, credentials and who may do what.
//!
//! A bearer token decides the tenant and the actor: a personal access token is a USER (admin or
//! member), an API key of kind `ai` is an AI, a device token is a DEVICE. Tokens are random,
//! shown once and stored only as SHA-256 hashes. [`Actor`] is an axum extractor, so a handler
//! that takes one cannot run unauthenticated, and every store function takes the tenant id it
//! yields. The permission rules of docs/API.md ("Who may do what") live in [`policy`].
//!
//! A browser signed in to the console presents a session cookie instead ([`sessions`]); it acts
//! as its user, and a request that changes state must also carry the session's CSRF token and
//! come from the hub's own origin ([`origin_guard`]).
//!
//! Files: `store.rs` (SQL of tenants, users, credentials), `tokens.rs` (generation and hashing),
//! `policy.rs` (rules), `sessions.rs` (browser sessions), `users.rs` (the people API),
//! `credentials.rs` (listing, creating and revoking tokens and keys).

pub mod credentials;
pub mod policy;
pub mod sessions;
pub mod store;
pub mod tokens;
pub mod users;

/// The people and credential routes, under any router state holding the database.
pub fn routes<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
{
    users::routes().merge(credentials::routes())
}

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use serde::{Deserialize, Serialize};
use shared::{ActorType, ErrorCode};

use crate::{
    db::{Db, DbError},
    error::ApiError,
};

/// A user's role inside a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages resources, settings and everyone's meetings.
    Admin,
    /// Books and manages their own meetings.
    Member,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// Who is calling: the tenant and the actor, from the bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The tenant every query of this request is scoped to.
    pub tenant_id: String,
    /// USER, AI or DEVICE.
    pub actor_type: ActorType,
    /// The user id for USER; the credential id for AI and DEVICE.
    pub id: String,
    /// The role, for USER actors.
    pub role: Option<Role>,
    /// The one resource a DEVICE actor is bound to (None for every other actor).
    pub resource_id: Option<String>,
}

impl Actor {
    /// True for a USER with the admin role.
    pub fn is_admin(&self) -> bool {
        self.role == Some(Role::Admin)
    }
}

/// Why a caller could not be identified or may not act.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token, an unknown one, a revoked or an expired one.
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// The actor's role does not allow the action.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A field of a tenant, user or key is malformed.
    #[error("invalid {field}: {problem}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The tenant does not exist.
    #[error("tenant not found")]
    TenantNotFound,
    /// The change would leave the tenant without an active admin.
    #[error("the tenant's last active admin cannot be demoted or deactivated")]
    LastAdmin,
    /// The thing to add exists already.
    #[error("duplicate: {0}")]
    Duplicate(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::db::classified_sqlx_errors!(AuthError);

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Unauthenticated => ApiError::unauthenticated(),
            AuthError::Forbidden(sentence) => ApiError::new(ErrorCode::Forbidden, sentence),
            AuthError::Invalid { field, problem } => {
                ApiError::validation(vec![crate::error::FieldError::new(field, problem)])
            }
            AuthError::TenantNotFound => ApiError::not_found("tenant"),
            AuthError::LastAdmin => ApiError::new(
                ErrorCode::Conflict,
                "This is the tenant's last active admin. Make someone else an admin first.",
            ),
            AuthError::Duplicate(sentence) => ApiError::new(ErrorCode::Conflict, sentence),
            AuthError::Db(db) => db.into(),
        }
    }
}

/// Works under any router state that holds the database, the only thing needed to check a
/// token, so capabilities can keep their routers' state small.
impl<S> FromRequestParts<S> for Actor
where
    Db: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let db = Db::from_ref(state);
        let actor = match bearer_token(parts) {
            Some(token) => store::authenticate(&db, token).await?,
            None => session_actor(parts, &db).await?,
        };
        crate::protection::charge_tenant(&parts.extensions, &actor.tenant_id)?;
        let span = tracing::Span::current();
        span.record("tenant_id", actor.tenant_id.as_str());
        span.record("actor_type", actor.actor_type.as_str());
        span.record("actor_id", actor.id.as_str());
        Ok(actor)
    }
}

/// The actor of the request's session cookie; a request that changes state must carry the
/// session's CSRF token too.
async fn session_actor(parts: &Parts, db: &Db) -> Result<Actor, ApiError> {
    let secret =
        sessions::secret_from_cookies(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
    if !parts.method.is_safe() {
        let presented = parts
            .headers
            .get(sessions::CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if !sessions::csrf_matches(&secret, presented) {
            return Err(AuthError::Forbidden(
                "This change needs the page's security token. Reload the page and try again.",
            )
            .into());
        }
    }
    Ok(sessions::authenticate(db, &secret).await?)
}

/// Refuses a request that rides on a session cookie, changes state and does not come from the
/// hub's own origin (`PUBLIC_URL`): the browser sends cookies whichever site made the request.
/// Bearer-token requests are not affected; scripts and agents send no cookies.
pub async fn origin_guard(
    axum::extract::State(own_origin): axum::extract::State<std::sync::Arc<str>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = request.headers();
    let rides_on_cookie = headers.get(header::AUTHORIZATION).is_none()
        && sessions::secret_from_cookies(headers).is_some();
    if rides_on_cookie && !request.method().is_safe() {
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        if origin != Some(&*own_origin) {
            return ApiError::from(AuthError::Forbidden(
                "This change came from another site and was refused. Make it from the CORBI console.",
            ))
            .into_response();
        }
    }
    next.run(request).await
}

/// The origin (`scheme://host[:port]`) browsers send for pages served from `public_url`.
pub fn origin_of(public_url: &str) -> String {
    url::Url::parse(public_url)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_default()
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}
