//! `storage.buckets` and `storage.objects`, read and written the way Supabase Storage does: each
//! transaction runs as a role with `request.jwt.claims` set (storage:
//! src/internal/database/postgres/scope.ts), so the `storage.objects` policies decide what the
//! caller sees and writes. Public and signed routes, and bucket lookups, run as the service
//! role (Storage's "super user"), which bypasses RLS.

use super::auth::Identity;
use super::error::StorageError;
use deadpool_postgres::{Object, Pool, PoolError};
use serde_json::Value;
use tokio_postgres::types::{ToSql, Type};

/// An ISO-8601 UTC timestamp with milliseconds, as Storage's JSON renders a `Date`.
macro_rules! iso {
    ($col:literal) => {
        concat!(
            "to_char(",
            $col,
            " at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        )
    };
}

/// The insert of an object row, then `$tail` (conflict handling, returning).
macro_rules! insert_object {
    ($tail:expr) => {
        concat!(
            "insert into storage.objects ",
            "(bucket_id, name, owner, owner_id, version, metadata, user_metadata) values ",
            "($1, $2, $3::uuid, $4, $5, $6::jsonb || case when $7 then jsonb_build_object(",
            "'lastModified', ",
            iso!("statement_timestamp()"),
            ") else '{}' end, $8::jsonb) ",
            $tail
        )
    };
}

/// Storage's scope statement: the role and what its policies may read about the request.
const SCOPE_SQL: &str = "select set_config('role', $1, true), \
     set_config('request.jwt.claim.role', $1, true), \
     set_config('request.jwt', $2, true), \
     set_config('request.jwt.claim.sub', $3, true), \
     set_config('request.jwt.claims', $4, true), \
     set_config('request.headers', $5, true), \
     set_config('request.method', $6, true), \
     set_config('request.path', $7, true), \
     set_config('storage.operation', $8, true), \
     set_config('storage.allow_delete_query', 'true', true)";

/// What a transaction's policies may see of the HTTP request.
#[derive(Clone)]
pub struct Request {
    pub method: String,
    /// The path after `/storage/v1`, with the query (Storage's `request.url`).
    pub path: String,
    /// The headers as a JSON object, lowercased names.
    pub headers: String,
}

/// Who a transaction (or a part of one) runs as.
pub struct Scope<'a> {
    pub identity: &'a Identity,
    pub request: &'a Request,
    /// Storage's route operation name (`storage.operation`), e.g. `storage.object.upload`.
    pub operation: &'static str,
}

pub struct Bucket {
    pub public: bool,
    pub file_size_limit: Option<i64>,
    pub allowed_mime_types: Option<Vec<String>>,
}

/// An object row as the read routes need it.
pub struct Obj {
    pub id: String,
    pub name: String,
    pub bucket_id: String,
    pub version: Option<String>,
    pub metadata: Value,
    pub user_metadata: Value,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// `metadata.lastModified` as an HTTP date, for `Last-Modified`.
    pub last_modified: Option<String>,
}

/// The row an upload writes.
pub struct NewObject<'a> {
    pub bucket: &'a str,
    pub name: &'a str,
    /// The uploader (`sub`): `owner_id`, and `owner` when it is a UUID.
    pub owner: Option<&'a str>,
    pub version: &'a str,
    /// `metadata`; with `stamp`, `lastModified` is added by the database.
    pub metadata: Value,
    pub stamp: bool,
    pub user_metadata: Option<Value>,
}

/// One open transaction. Dropped before commit or rollback (the request was abandoned
/// mid-way), its connection is closed instead of going back to the pool, which ends the
/// transaction on the server.
pub struct Tx {
    client: Option<Object>,
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            drop(Object::take(c));
        }
    }
}

/// Runs `f` in a transaction as `scope`; commits if `commit` and `f` succeeded, else rolls back.
pub async fn transaction<T>(
    pool: &Pool,
    scope: &Scope<'_>,
    commit: bool,
    f: impl AsyncFnOnce(&Tx) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    let tx = Tx::begin(pool, scope).await?;
    match f(&tx).await {
        Ok(v) if commit => {
            tx.commit().await?;
            Ok(v)
        }
        Ok(v) => {
            tx.rollback().await;
            Ok(v)
        }
        Err(e) => {
            tx.rollback().await;
            Err(e)
        }
    }
}

fn db(e: tokio_postgres::Error) -> StorageError {
    StorageError::from_db(&e)
}

fn pool_error(e: PoolError) -> StorageError {
    StorageError::database(format!("cannot get a database connection: {e}"))
}

impl Tx {
    async fn begin(pool: &Pool, scope: &Scope<'_>) -> Result<Tx, StorageError> {
        let tx = Tx {
            client: Some(pool.get().await.map_err(pool_error)?),
        };
        let c = tx.client();
        // BEGIN and the scope go out in one write (tokio-postgres sends on first poll).
        let (began, scoped) = tokio::join!(c.batch_execute("begin"), tx.set_scope(scope));
        if let Err(e) = began {
            tx.rollback().await;
            return Err(db(e));
        }
        if let Err(e) = scoped {
            tx.rollback().await;
            return Err(e);
        }
        Ok(tx)
    }

    fn client(&self) -> &Object {
        self.client
            .as_ref()
            .expect("a transaction has its connection until it ends")
    }

    /// Runs the rest of the transaction as `scope` (settings are transaction-local).
    pub async fn set_scope(&self, scope: &Scope<'_>) -> Result<(), StorageError> {
        let c = self.client();
        let stmt = c
            .prepare_typed_cached(SCOPE_SQL, &[Type::TEXT; 8])
            .await
            .map_err(db)?;
        let id = scope.identity;
        let claims = id.claims.to_string();
        let sub = id.sub.clone().unwrap_or_default();
        let params: [&(dyn ToSql + Sync); 8] = [
            &id.role,
            &id.jwt,
            &sub,
            &claims,
            &scope.request.headers,
            &scope.request.method,
            &scope.request.path,
            &scope.operation,
        ];
        c.execute(&stmt, &params).await.map_err(db)?;
        Ok(())
    }

    async fn commit(mut self) -> Result<(), StorageError> {
        let c = self.client.take().expect("committed once");
        match c.batch_execute("commit").await {
            Ok(()) => Ok(()),
            Err(e) => {
                drop(Object::take(c));
                Err(db(e))
            }
        }
    }

    async fn rollback(mut self) {
        if let Some(c) = self.client.take() {
            if c.batch_execute("rollback").await.is_err() {
                drop(Object::take(c));
            }
        }
    }

    async fn query(
        &self,
        sql: &str,
        types: &[Type],
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StorageError> {
        let c = self.client();
        let stmt = c.prepare_typed_cached(sql, types).await.map_err(db)?;
        c.query(&stmt, params).await.map_err(db)
    }

    pub async fn bucket(&self, id: &str) -> Result<Option<Bucket>, StorageError> {
        let rows = self
            .query(
                "select coalesce(public, false), file_size_limit, allowed_mime_types \
                 from storage.buckets where id = $1",
                &[Type::TEXT],
                &[&id],
            )
            .await?;
        Ok(rows.first().map(|r| Bucket {
            public: r.get(0),
            file_size_limit: r.get(1),
            allowed_mime_types: r.get(2),
        }))
    }

    /// The row of `bucket/name` if this transaction's role may see it.
    pub async fn object(&self, bucket: &str, name: &str) -> Result<Option<Obj>, StorageError> {
        let rows = self
            .query(
                concat!(
                    "select id::text, name, bucket_id, version, ",
                    "coalesce(metadata, 'null')::text, coalesce(user_metadata, 'null')::text, ",
                    iso!("created_at"),
                    ", ",
                    iso!("updated_at"),
                    ", case when metadata ->> 'lastModified' ~ ",
                    "'^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z$' ",
                    "then to_char((metadata ->> 'lastModified')::timestamptz at time zone 'UTC', ",
                    "'Dy, DD Mon YYYY HH24:MI:SS \"GMT\"') end ",
                    "from storage.objects where bucket_id = $1 and name = $2"
                ),
                &[Type::TEXT, Type::TEXT],
                &[&bucket, &name],
            )
            .await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let json = |i: usize| serde_json::from_str(r.get::<_, &str>(i)).unwrap_or(Value::Null);
        Ok(Some(Obj {
            id: r.get(0),
            name: r.get(1),
            bucket_id: r.get(2),
            version: r.get(3),
            metadata: json(4),
            user_metadata: json(5),
            created_at: r.get(6),
            updated_at: r.get(7),
            last_modified: r.get(8),
        }))
    }

    /// Which of `names` in `bucket` this transaction's role may see.
    pub async fn visible_names(
        &self,
        bucket: &str,
        names: &[String],
    ) -> Result<Vec<String>, StorageError> {
        let rows = self
            .query(
                "select name from storage.objects where bucket_id = $1 and name = any($2)",
                &[Type::TEXT, Type::TEXT_ARRAY],
                &[&bucket, &names],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Serializes writers of one object until the transaction ends (Storage's
    /// `waitObjectLock`), and returns the version it has now (`None`: no row yet).
    pub async fn lock_object(
        &self,
        bucket: &str,
        name: &str,
    ) -> Result<Option<Option<String>>, StorageError> {
        let key = format!("{bucket}/{name}");
        self.query(
            "select pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[Type::TEXT],
            &[&key],
        )
        .await?;
        let rows = self
            .query(
                "select version from storage.objects where bucket_id = $1 and name = $2 for update",
                &[Type::TEXT, Type::TEXT],
                &[&bucket, &name],
            )
            .await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// Inserts the row (`upsert`: or updates the existing one); returns its id. A duplicate
    /// without `upsert` is Storage's 409 `KeyAlreadyExists`.
    pub async fn write_object(
        &self,
        o: &NewObject<'_>,
        upsert: bool,
    ) -> Result<String, StorageError> {
        let sql = if upsert {
            insert_object!(concat!(
                "on conflict (bucket_id, name) do update set version = excluded.version, ",
                "metadata = excluded.metadata, user_metadata = excluded.user_metadata, ",
                "owner = excluded.owner, owner_id = excluded.owner_id returning id::text"
            ))
        } else {
            insert_object!("returning id::text")
        };
        let owner_uuid = o
            .owner
            .filter(|s| uuid::Uuid::parse_str(s).is_ok())
            .map(str::to_string);
        let metadata = o.metadata.to_string();
        let user_metadata = o.user_metadata.as_ref().map(Value::to_string);
        let rows = self
            .query(
                sql,
                &[
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::BOOL,
                    Type::TEXT,
                ],
                &[
                    &o.bucket,
                    &o.name,
                    &owner_uuid,
                    &o.owner,
                    &o.version,
                    &metadata,
                    &o.stamp,
                    &user_metadata,
                ],
            )
            .await
            .map_err(|e| {
                if !upsert && e.code == "ResourceAlreadyExists" {
                    StorageError::key_already_exists()
                } else {
                    e
                }
            })?;
        Ok(rows.first().map(|r| r.get(0)).unwrap_or_default())
    }

    /// Deletes `bucket/name` if this role may; returns the deleted row's version.
    pub async fn delete_object(
        &self,
        bucket: &str,
        name: &str,
    ) -> Result<Option<Option<String>>, StorageError> {
        let rows = self
            .query(
                "delete from storage.objects where bucket_id = $1 and name = $2 returning version",
                &[Type::TEXT, Type::TEXT],
                &[&bucket, &name],
            )
            .await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    /// Deletes the rows of `names` this role may delete: the deleted rows as Storage renders
    /// them (a JSON array) and their versions.
    pub async fn delete_objects(
        &self,
        bucket: &str,
        names: &[String],
    ) -> Result<(String, Vec<String>), StorageError> {
        let rows = self
            .query(
                concat!(
                    "with d as (delete from storage.objects where bucket_id = $1 and name = any($2) ",
                    "returning *) select json_build_object('name', name, 'bucket_id', bucket_id, ",
                    "'owner', owner, 'owner_id', owner_id, 'version', version, 'id', id, ",
                    "'updated_at', ",
                    iso!("updated_at"),
                    ", 'created_at', ",
                    iso!("created_at"),
                    ", 'last_accessed_at', ",
                    iso!("last_accessed_at"),
                    ", 'metadata', metadata, 'user_metadata', user_metadata)::text, version from d"
                ),
                &[Type::TEXT, Type::TEXT_ARRAY],
                &[&bucket, &names],
            )
            .await?;
        let items: Vec<&str> = rows.iter().map(|r| r.get(0)).collect();
        let versions = rows
            .iter()
            .filter_map(|r| r.get::<_, Option<String>>(1))
            .collect();
        Ok((format!("[{}]", items.join(",")), versions))
    }

    /// `storage.search`, as Storage's list route calls it; the rows as a JSON array.
    pub async fn search(&self, q: &Search<'_>) -> Result<String, StorageError> {
        let rows = self
            .query(
                concat!(
                    "select coalesce(json_agg(json_build_object('name', s.name, 'id', s.id, ",
                    "'updated_at', ",
                    iso!("s.updated_at"),
                    ", 'created_at', ",
                    iso!("s.created_at"),
                    ", 'last_accessed_at', ",
                    iso!("s.last_accessed_at"),
                    ", 'metadata', s.metadata) order by s.n), '[]')::text ",
                    "from storage.search($1, $2, $3, $4, $5, $6, $7, $8) with ordinality ",
                    "as s(name, id, updated_at, created_at, last_accessed_at, metadata, n)"
                ),
                &[
                    Type::TEXT,
                    Type::TEXT,
                    Type::INT4,
                    Type::INT4,
                    Type::INT4,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                ],
                &[
                    &q.prefix,
                    &q.bucket,
                    &q.limit,
                    &q.levels,
                    &q.offset,
                    &q.search,
                    &q.sort_column,
                    &q.sort_order,
                ],
            )
            .await?;
        Ok(rows
            .first()
            .map(|r| r.get(0))
            .unwrap_or_else(|| "[]".to_string()))
    }
}

/// The arguments of `storage.search`.
pub struct Search<'a> {
    pub prefix: &'a str,
    pub bucket: &'a str,
    pub limit: i32,
    pub levels: i32,
    pub offset: i32,
    pub search: &'a str,
    pub sort_column: &'a str,
    pub sort_order: &'a str,
}
