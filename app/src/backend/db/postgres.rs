//! PostgreSQL: a server that several replicas share.

use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::DatabaseError;

/// Opens the database at `url`, creating it if the server lacks it (and the user may), and
/// applies pending migrations; replicas starting together take turns under the migrator's lock.
pub(super) async fn connect(url: &str) -> Result<PgPool, DatabaseError> {
    if !sqlx::Postgres::database_exists(url).await? {
        // Another replica may create it at the same moment.
        if let Err(e) = sqlx::Postgres::create_database(url).await
            && !sqlx::Postgres::database_exists(url).await?
        {
            return Err(e.into());
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    sqlx::migrate!("../migrations/postgres").run(&pool).await?;
    Ok(pool)
}
