use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::protocol::{ApiError, ErrorCode};

/// The error every handler and service returns. Users see a status code and a clean
/// [`ApiError`] body; internal causes are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// The JSON body does not have the expected shape; the message says where.
    #[error("{0}")]
    Unprocessable(String),
    /// No valid credentials came with the request.
    #[error("{0}")]
    Unauthorized(String),
    /// The request is not allowed (foreign origin, disabled account).
    #[error("{0}")]
    Forbidden(String),
    /// The record does not exist, or belongs to someone else: both look the same.
    #[error("not found")]
    NotFound,
    /// The record already exists.
    #[error("{0}")]
    Conflict(String),
    /// The request or its content is larger than allowed; the message says what the limit is.
    #[error("{0}")]
    TooLarge(String),
    /// Too many attempts; the client may retry after the given time.
    #[error("too many attempts; try again in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// How long until a retry can succeed.
        retry_after: Duration,
    },
    /// A dependency (database, model) is not available right now.
    #[error("{0}")]
    Unavailable(String),
    /// The model provider failed or timed out; the message says how.
    #[error("{0}")]
    Upstream(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Anything else that went wrong on the server.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// The error's kind, as clients see it.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Unprocessable(_) => ErrorCode::Unprocessable,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::TooLarge(_) => ErrorCode::TooLarge,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Upstream(_) => ErrorCode::Upstream,
            Self::Database(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The HTTP status for the error.
    pub fn status(&self) -> StatusCode {
        status_for(self.code())
    }

    /// What the client is told: internal causes are replaced by a generic message (the cause
    /// is logged where the response is made, see [`IntoResponse`]).
    pub fn to_api_error(&self) -> ApiError {
        let message = match self.code() {
            ErrorCode::Internal => "internal error; the server log has the details".to_owned(),
            _ => self.to_string(),
        };
        let retry_after_secs = match self {
            Self::RateLimited { retry_after } => Some(retry_after.as_secs().max(1)),
            _ => None,
        };
        ApiError { retry_after_secs, ..ApiError::new(self.code(), message) }
    }
}

/// The JSON error response for `error`, with its status and, when rate limited, `Retry-After`.
pub fn error_response(error: &ApiError) -> Response {
    let mut response = (status_for(error.code), Json(error)).into_response();
    if let Some(seconds) = error.retry_after_secs {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The HTTP status that goes with an error code.
pub fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Upstream => StatusCode::BAD_GATEWAY,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ApiError> for AppError {
    fn from(error: ApiError) -> Self {
        match error.code {
            ErrorCode::BadRequest => Self::BadRequest(error.message),
            ErrorCode::NotFound => Self::NotFound,
            ErrorCode::Unauthorized => Self::Unauthorized(error.message),
            ErrorCode::Forbidden => Self::Forbidden(error.message),
            ErrorCode::Conflict => Self::Conflict(error.message),
            ErrorCode::Unavailable => Self::Unavailable(error.message),
            ErrorCode::Upstream => Self::Upstream(error.message),
            ErrorCode::Internal => Self::Internal(error.message),
            ErrorCode::Unprocessable => Self::Unprocessable(error.message),
            ErrorCode::TooLarge => Self::TooLarge(error.message),
            ErrorCode::RateLimited => {
                Self::RateLimited { retry_after: Duration::from_secs(error.retry_after_secs.unwrap_or(1)) }
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if self.code() == ErrorCode::Internal {
            tracing::error!(error = %self, "request failed");
        }
        error_response(&self.to_api_error())
    }
}

/// Server functions return [`ApiError`]. The conversion is plain: the HTTP status of a failed
/// call is set from the error's code by the server's error middleware, which sees every call.
impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        if error.code() == ErrorCode::Internal {
            tracing::error!(error = %error, "request failed");
        }
        error.to_api_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_convert_both_ways_without_losing_their_kind() {
        let errors = [
            AppError::BadRequest("b".into()),
            AppError::Unprocessable("u".into()),
            AppError::Unauthorized("a".into()),
            AppError::Forbidden("f".into()),
            AppError::NotFound,
            AppError::Conflict("c".into()),
            AppError::TooLarge("t".into()),
            AppError::RateLimited { retry_after: Duration::from_secs(7) },
            AppError::Unavailable("n".into()),
            AppError::Upstream("p".into()),
        ];
        for error in errors {
            let api = error.to_api_error();
            let back = AppError::from(api.clone());
            assert_eq!((back.code(), back.to_string()), (error.code(), error.to_string()));
            assert_eq!(back.to_api_error(), api);
        }
    }
}
