//! The server side of the application: storage, assets and the services the API and the
//! websockets call. Compiled only with the `ssr` feature.

mod assets;
mod db;
mod error;

pub use assets::ModelAssets;
pub use db::{Database, DatabaseError};
pub use error::AppError;

use crate::protocol::{Check, Readiness};

/// Everything a request handler or server function needs, shared by the whole server.
#[derive(Clone, Debug)]
pub struct AppContext {
    /// The application database.
    pub db: Database,
    /// Where the model files live.
    pub assets: ModelAssets,
}

impl AppContext {
    /// Checks the database connection and every model asset.
    pub async fn readiness(&self) -> Readiness {
        let database = match self.db.ping().await {
            Ok(()) => Check { name: "database".into(), ok: true, detail: self.db.kind().into() },
            Err(e) => Check { name: "database".into(), ok: false, detail: e.to_string() },
        };
        let mut checks = vec![database];
        checks.extend(self.assets.checks());
        Readiness::from_checks(checks)
    }
}
