use serde::{Deserialize, Serialize};

/// What kind of failure an API call or websocket message met. Clients branch on this; the
/// message is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ErrorCode {
    /// The input was malformed or out of range.
    BadRequest,
    /// The JSON is well-formed but does not have the expected fields and types.
    Unprocessable,
    /// No valid session or token came with the request.
    Unauthorized,
    /// The request came from a foreign origin, or the account is disabled.
    Forbidden,
    /// The record does not exist, or belongs to someone else.
    NotFound,
    /// The record already exists (e.g. a taken username).
    Conflict,
    /// Too many attempts or messages; wait and try again.
    RateLimited,
    /// The message is larger than the endpoint accepts.
    TooLarge,
    /// A dependency (database, model) is not available.
    Unavailable,
    /// The model provider failed or timed out.
    Upstream,
    /// Something failed on the server; details are in its log.
    Internal,
}

/// The error every API call returns, as JSON `{"code": …, "message": …}`; the websocket
/// `error` message carries the same fields. A `rate_limited` error also says after how many
/// seconds a retry can succeed (`retry_after_secs`, also sent as `Retry-After` over HTTP).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// The kind of failure.
    pub code: ErrorCode,
    /// A human-readable explanation.
    pub message: String,
    /// Seconds until a retry can succeed, for `rate_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error of kind `code` explained by `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after_secs: None }
    }

    /// A malformed-input error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
}

impl leptos::server_fn::error::FromServerFnError for ApiError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Args(m) | E::Deserialization(m) | E::MissingArg(m) => Self::bad_request(m),
            E::Request(m) | E::Response(m) => {
                Self::new(ErrorCode::Unavailable, format!("the server could not be reached: {m}"))
            }
            other => Self::new(ErrorCode::Internal, other.to_string()),
        }
    }
}
