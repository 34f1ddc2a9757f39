//! Server functions: typed calls from the pages to the server. Each is thin: it takes what it
//! needs from the request context and calls the back end.

use leptos::prelude::*;

use crate::protocol::Readiness;

/// Reports whether the database and every model asset are available.
#[server]
pub async fn check_readiness() -> Result<Readiness, ServerFnError> {
    let context = use_context::<crate::backend::AppContext>()
        .ok_or_else(|| ServerFnError::new("the server has no application context"))?;
    Ok(context.readiness().await)
}
