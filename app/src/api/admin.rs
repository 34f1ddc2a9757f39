//! Administration: the user list, disabling and re-enabling accounts. Everyone but an
//! administrator gets `not_found`.

use crate::protocol::UserId;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::server::{context, require_identity};
use crate::protocol::{ApiError, UserSummary};

/// Every account (administrators only).
#[server(endpoint = "admin/users")]
pub async fn list_users() -> Result<Vec<UserSummary>, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.accounts.list_users(&identity.user).await?)
}

/// Disables (`disabled = true`) or re-enables an account (administrators only).
#[server(endpoint = "admin/set_disabled")]
pub async fn set_user_disabled(id: UserId, disabled: bool) -> Result<(), ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.accounts.set_disabled(&identity.user, id, disabled).await?)
}
