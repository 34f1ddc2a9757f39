use serde::{Deserialize, Serialize};

/// Whether this instance can serve: one check per dependency (database, each model asset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// True when every required check passed.
    pub ready: bool,
    /// True when it serves without a shared service (Redis): what it publishes live stays on
    /// this replica until the service is back.
    #[serde(default)]
    pub degraded: bool,
    /// The individual checks, in a stable order.
    pub checks: Vec<Check>,
}

/// One readiness check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Check {
    /// What was checked, e.g. `"database"` or `"efficientnet_lite0.onnx"`.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// A short human-readable result.
    pub detail: String,
}

impl Readiness {
    /// Collects checks: ready when all `required` ones passed, degraded when one of `optional`
    /// did not.
    pub fn from_checks(required: Vec<Check>, optional: Vec<Check>) -> Self {
        let ready = required.iter().all(|c| c.ok);
        let degraded = optional.iter().any(|c| !c.ok);
        Self { ready, degraded, checks: required.into_iter().chain(optional).collect() }
    }
}
