//! OAuth 2.0 authorization-code flow with PKCE and offline access (the `oauth2` crate): the
//! consent URL, the code exchange and the refresh. The routes people connect through are the
//! Google module's (`google/connect.rs`), which knows the scopes to ask for.

use std::{future::Future, pin::Pin};

use chrono::{Duration, Utc};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
    basic::{BasicClient, BasicErrorResponseType},
};

use super::Grant;
use crate::config::GoogleConfig;

type GoogleOAuth =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Why a refresh failed.
#[derive(Debug)]
pub enum RefreshError {
    /// Google no longer honours the refresh token (`invalid_grant`).
    InvalidGrant,
    /// Worth retrying later (network, 5xx); the text never holds a token.
    Transient(String),
}

/// The OAuth client of this installation.
#[derive(Clone)]
pub struct OAuthClient {
    client: GoogleOAuth,
    transport: Transport,
}

/// The HTTP transport of the `oauth2` crate, on this hub's reqwest client.
#[derive(Clone)]
struct Transport(reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for Transport {
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = axum::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let bytes = response.bytes().await?;
            Ok(builder.body(bytes.to_vec()).unwrap_or_default())
        })
    }
}

impl OAuthClient {
    /// Builds the client from configuration; the redirect goes to this hub's callback.
    pub fn new(
        config: &GoogleConfig,
        public_url: &str,
        http: reqwest::Client,
    ) -> Result<Self, url::ParseError> {
        let client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.expose().to_string()))
            .set_auth_uri(AuthUrl::new(config.auth_url.clone())?)
            .set_token_uri(TokenUrl::new(config.token_url.clone())?)
            .set_redirect_uri(RedirectUrl::new(format!(
                "{public_url}/oauth/google/callback"
            ))?)
            .set_auth_type(AuthType::RequestBody);
        Ok(OAuthClient {
            client,
            transport: Transport(http),
        })
    }

    /// Where to send a person to consent to `scopes`: offline access (a refresh token) with
    /// consent asked again, so the grant holds every scope even when one was granted before.
    pub fn authorization_url(
        &self,
        state: &str,
        scopes: &[&str],
        challenge: PkceCodeChallenge,
        login_hint: Option<&str>,
    ) -> String {
        let state = state.to_string();
        let mut request = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_string())))
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent")
            .add_extra_param("include_granted_scopes", "true")
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_string());
        }
        request.url().0.to_string()
    }

    /// Trades the code Google sent back (with the PKCE verifier its challenge was made from)
    /// for tokens; the error text never holds a token.
    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<Grant, String> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(&self.transport)
            .await
            .map_err(|err| describe(&err))?;
        Ok(grant_from(&response))
    }

    /// Trades a refresh token for a new access token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Grant, RefreshError> {
        let response = self
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_string()))
            .request_async(&self.transport)
            .await;
        match response {
            Ok(response) => Ok(grant_from(&response)),
            Err(RequestTokenError::ServerResponse(body))
                if *body.error() == BasicErrorResponseType::InvalidGrant =>
            {
                Err(RefreshError::InvalidGrant)
            }
            Err(err) => Err(RefreshError::Transient(describe(&err))),
        }
    }
}

fn grant_from(response: &oauth2::basic::BasicTokenResponse) -> Grant {
    let lifetime = response.expires_in().map_or(Duration::hours(1), |d| {
        Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(3600))
    });
    Grant {
        access_token: response.access_token().secret().clone(),
        refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        expires_at: Utc::now() + lifetime,
        scopes: response
            .scopes()
            .map(|s| s.iter().map(|scope| scope.to_string()).collect()),
    }
}

/// Describes a token-endpoint failure without any token in it.
fn describe<RE: std::error::Error + 'static>(
    err: &RequestTokenError<RE, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
) -> String {
    match err {
        RequestTokenError::ServerResponse(body) => {
            format!("token endpoint refused: {}", body.error())
        }
        RequestTokenError::Request(_) => "token endpoint unreachable".into(),
        RequestTokenError::Parse(_, _) => "token endpoint answered something unreadable".into(),
        RequestTokenError::Other(text) => format!("token endpoint failed: {text}"),
    }
}
