use std::path::Path;
use std::time::Duration;

use clickhouse::{Client, Row, RowOwned, RowRead};

use crate::{q, server, ClickHouseConfig, Query, StoreError};

/// A connection to costmill's database, on an external or the managed server.
#[derive(Clone)]
pub struct Store {
    client: Client,
    url: String,
    database: String,
}

impl Store {
    /// Connect (starting the managed server when no URL is configured), create the database
    /// and apply pending migrations.
    /// Also finishes what crashed runs left (see [`Store::recover`]).
    pub async fn open(config: &ClickHouseConfig, data_dir: &Path) -> Result<Store, StoreError> {
        let store = Store::connect(config, data_dir).await?;
        store.migrate().await?;
        store.recover().await?;
        Ok(store)
    }

    /// Connect and create the database, without migrating.
    pub async fn connect(config: &ClickHouseConfig, data_dir: &Path) -> Result<Store, StoreError> {
        if !crate::config::valid_database_name(&config.database) {
            return Err(StoreError::InvalidDatabase(config.database.clone()));
        }
        let url = match &config.url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let data_dir = data_dir.to_path_buf();
                let binary = config.server_binary.clone();
                let timeout = Duration::from_secs(config.startup_timeout_secs);
                let password = config.password.clone();
                tokio::task::spawn_blocking(move || {
                    server::ensure_running(&data_dir, binary.as_deref(), timeout, &password)
                })
                .await
                .expect("server start task panicked")?
                .url()
            }
        };
        // RowBinary without names and types: 18.16 lacks RowBinaryWithNamesAndTypes.
        let base = Client::default()
            .with_url(&url)
            .with_user(&config.user)
            .with_password(&config.password)
            .with_validation(false);
        let create = q::create_database()
            .bind_ident("database", &config.database)
            .render()?;
        base.query_raw(&create)
            .execute()
            .await
            .map_err(|source| StoreError::Unreachable {
                url: url.clone(),
                source,
            })?;
        Ok(Store {
            client: base.with_database(&config.database),
            url,
            database: config.database.clone(),
        })
    }

    /// The same connection with a ClickHouse setting sent with every query (e.g.
    /// `max_execution_time`).
    pub fn with_setting(&self, name: &str, value: &str) -> Store {
        Store {
            client: self.client.clone().with_setting(name, value),
            ..self.clone()
        }
    }

    /// Whether the server answers a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .query_raw("SELECT 1")
            .execute()
            .await
            .map_err(|source| StoreError::Unreachable {
                url: self.url.clone(),
                source,
            })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub async fn execute(&self, query: &Query) -> Result<(), StoreError> {
        let sql = query.render()?;
        self.client
            .query_raw(&sql)
            .execute()
            .await
            .map_err(|source| StoreError::Query {
                name: query.name.into(),
                source,
            })
    }

    pub async fn fetch_all<T>(&self, query: &Query) -> Result<Vec<T>, StoreError>
    where
        T: RowOwned + RowRead,
    {
        let sql = query.render()?;
        self.client
            .query_raw(&sql)
            .fetch_all::<T>()
            .await
            .map_err(|source| StoreError::Query {
                name: query.name.into(),
                source,
            })
    }

    /// Start an insert of Native blocks (see [`crate::native`]) into `table`.
    pub fn insert_native_blocks(
        &self,
        table: &str,
    ) -> clickhouse::insert_formatted::InsertFormatted {
        self.client.insert_formatted_with(format!(
            "INSERT INTO {} FORMAT Native",
            crate::sql::quote_ident(table)
        ))
    }

    /// Insert `rows` into `table` in one RowBinary insert (one new part).
    pub async fn insert_rows<T>(&self, table: &str, rows: &[T]) -> Result<(), StoreError>
    where
        T: Row + for<'a> Row<Value<'a> = T> + serde::Serialize,
    {
        let error = |source| StoreError::Query {
            name: format!("insert into {table}"),
            source,
        };
        let mut insert = self.insert::<T>(table).await?;
        for row in rows {
            insert.write(row).await.map_err(error)?;
        }
        insert.end().await.map_err(error)
    }

    /// Start a RowBinary insert into `table`.
    pub async fn insert<T: Row>(
        &self,
        table: &str,
    ) -> Result<clickhouse::insert::Insert<T>, StoreError> {
        self.client
            .insert::<T>(table)
            .await
            .map_err(|source| StoreError::Query {
                name: format!("insert into {table}"),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_name_that_is_not_an_identifier_is_refused_before_connecting() {
        for bad in ["costmill`; DROP TABLE x", "a\\b", "1st", "", "has-dash"] {
            let config = ClickHouseConfig {
                // Nothing listens there: the name must be refused before any connection.
                url: Some("http://127.0.0.1:9".into()),
                database: bad.into(),
                ..ClickHouseConfig::default()
            };
            match Store::connect(&config, Path::new("/nonexistent")).await {
                Err(StoreError::InvalidDatabase(name)) => assert_eq!(name, bad),
                Err(other) => panic!("{bad:?}: {other}"),
                Ok(_) => panic!("{bad:?} was accepted"),
            }
        }
    }
}
