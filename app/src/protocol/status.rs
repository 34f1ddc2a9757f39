use serde::{Deserialize, Serialize};

/// Whether this instance can serve: one check per dependency (database, each model asset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// True when every check passed.
    pub ready: bool,
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
    /// Collects checks; ready when all of them passed.
    pub fn from_checks(checks: Vec<Check>) -> Self {
        Self { ready: checks.iter().all(|c| c.ok), checks }
    }
}
