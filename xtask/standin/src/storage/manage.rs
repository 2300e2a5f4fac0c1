//! Listing and removing objects (storage: routes listObjects, deleteObject, deleteObjects).
//! Both run as the caller, so a stranger lists nothing and removes nothing of another user's;
//! removed rows' bytes go once the deletion committed.

use super::auth::Identity;
use super::db::{transaction, Search};
use super::error::StorageError;
use super::route::Access;
use super::{json_response, Ctx};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

/// `POST /object/list/{bucket}` with `{prefix, limit, offset, sortBy, search}`: the files and
/// folders directly under `prefix`, folders with a null `id`, through `storage.search`.
pub async fn list(ctx: &Ctx, bucket: &str, body: Body) -> Result<Response, StorageError> {
    let identity = ctx.caller(Access::Required)?;
    let body = ctx.json_body(body).await?;
    let o = ListOptions::parse(&body)?;
    // Storage treats the prefix as a folder.
    let mut prefix = o.prefix.clone();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    let levels = format!("{prefix}{}", o.search).split('/').count();
    let q = Search {
        prefix: &prefix,
        bucket,
        limit: o.limit,
        levels: i32::try_from(levels).unwrap_or(i32::MAX),
        offset: o.offset,
        search: &o.search,
        sort_column: &o.sort_column,
        sort_order: &o.sort_order,
    };
    let scope = ctx.scope(&identity, "storage.object.list");
    let rows = transaction(&ctx.app.pool, &scope, false, async |tx| tx.search(&q).await).await?;
    Ok(json_response(StatusCode::OK, rows))
}

/// The list route's body, with storage-js's defaults.
#[derive(Debug, PartialEq)]
struct ListOptions {
    prefix: String,
    limit: i32,
    offset: i32,
    search: String,
    sort_column: String,
    sort_order: String,
}

impl ListOptions {
    fn parse(body: &Value) -> Result<ListOptions, StorageError> {
        let invalid = |m: &str| StorageError::invalid_request(m);
        if !body.is_object() {
            return Err(invalid("body must be object"));
        }
        let prefix = match body.get("prefix") {
            None => return Err(invalid("body must have required property 'prefix'")),
            Some(p) => p
                .as_str()
                .ok_or_else(|| invalid("body/prefix must be string"))?
                .to_string(),
        };
        let integer = |key: &str, min: i64, default: i32| -> Result<i32, StorageError> {
            match body.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => {
                    let n = v
                        .as_i64()
                        .ok_or_else(|| invalid(&format!("body/{key} must be integer")))?;
                    if n < min {
                        return Err(invalid(&format!("body/{key} must be >= {min}")));
                    }
                    Ok(i32::try_from(n).unwrap_or(i32::MAX))
                }
            }
        };
        let search = match body.get("search") {
            None | Some(Value::Null) => String::new(),
            Some(s) => s
                .as_str()
                .ok_or_else(|| invalid("body/search must be string"))?
                .to_string(),
        };
        let (sort_column, sort_order) = match body.get("sortBy") {
            None | Some(Value::Null) => ("name".to_string(), "asc".to_string()),
            Some(s) => {
                let column = s
                    .get("column")
                    .ok_or_else(|| invalid("body/sortBy must have required property 'column'"))?
                    .as_str()
                    .filter(|c| {
                        ["name", "updated_at", "created_at", "last_accessed_at"].contains(c)
                    })
                    .ok_or_else(|| {
                        invalid("body/sortBy/column must be equal to one of the allowed values")
                    })?;
                let order = match s.get("order") {
                    None | Some(Value::Null) => "asc",
                    Some(o) => o
                        .as_str()
                        .filter(|o| ["asc", "desc"].contains(o))
                        .ok_or_else(|| {
                            invalid("body/sortBy/order must be equal to one of the allowed values")
                        })?,
                };
                (column.to_string(), order.to_string())
            }
        };
        Ok(ListOptions {
            prefix,
            limit: integer("limit", 1, 100)?,
            offset: integer("offset", 0, 0)?,
            search,
            sort_column,
            sort_order,
        })
    }
}

/// `DELETE /object/{bucket}/{name}`. As on Supabase, a name that does not exist is "Object not
/// found", one the caller may not delete is "Access denied".
pub async fn remove(ctx: &Ctx, bucket: &str, name: &str) -> Result<Response, StorageError> {
    let identity = ctx.caller(Access::Required)?;
    let service = Identity::service_role();
    let operation = "storage.object.delete";
    let version = transaction(
        &ctx.app.pool,
        &ctx.scope(&service, operation),
        true,
        async |tx| {
            if tx.lock_object(bucket, name).await?.is_none() {
                return Err(StorageError::no_such_key());
            }
            tx.set_scope(&ctx.scope(&identity, operation)).await?;
            tx.delete_object(bucket, name)
                .await?
                .ok_or_else(|| StorageError::access_denied("Access denied"))
        },
    )
    .await?;
    if let Some(v) = version {
        ctx.storage().files.remove(&v).await;
    }
    Ok(json_response(
        StatusCode::OK,
        json!({ "message": "Successfully deleted" }).to_string(),
    ))
}

/// `DELETE /object/{bucket}` with `{prefixes}` (object names): the rows removed, as Storage
/// renders them; names the caller cannot delete are left out.
pub async fn remove_many(ctx: &Ctx, bucket: &str, body: Body) -> Result<Response, StorageError> {
    let identity = ctx.caller(Access::Required)?;
    let body = ctx.json_body(body).await?;
    let names = prefixes(&body)?;
    let scope = ctx.scope(&identity, "storage.object.delete_many");
    let (rows, versions) = transaction(&ctx.app.pool, &scope, true, async |tx| {
        tx.delete_objects(bucket, &names).await
    })
    .await?;
    for v in versions {
        ctx.storage().files.remove(&v).await;
    }
    Ok(json_response(StatusCode::OK, rows))
}

fn prefixes(body: &Value) -> Result<Vec<String>, StorageError> {
    let invalid = |m: &str| StorageError::invalid_request(m);
    let list = body
        .get("prefixes")
        .ok_or_else(|| invalid("body must have required property 'prefixes'"))?
        .as_array()
        .ok_or_else(|| invalid("body/prefixes must be array"))?;
    if list.is_empty() {
        return Err(invalid("body/prefixes must NOT have fewer than 1 items"));
    }
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            p.as_str()
                .map(String::from)
                .ok_or_else(|| invalid(&format!("body/prefixes/{i} must be string")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_options_take_storage_js_defaults_and_the_schema() {
        assert_eq!(
            ListOptions::parse(&json!({"prefix": "u"})).unwrap(),
            ListOptions {
                prefix: "u".into(),
                limit: 100,
                offset: 0,
                search: String::new(),
                sort_column: "name".into(),
                sort_order: "asc".into()
            }
        );
        let o = ListOptions::parse(&json!({
            "prefix": "", "limit": 5, "offset": 2, "search": "a",
            "sortBy": {"column": "created_at", "order": "desc"}
        }))
        .unwrap();
        assert_eq!(
            (
                o.limit,
                o.offset,
                o.search.as_str(),
                o.sort_column.as_str(),
                o.sort_order.as_str()
            ),
            (5, 2, "a", "created_at", "desc")
        );
        for bad in [
            json!({}),
            json!([]),
            json!({"prefix": 1}),
            json!({"prefix": "", "limit": 0}),
            json!({"prefix": "", "offset": -1}),
            json!({"prefix": "", "sortBy": {"column": "size"}}),
            json!({"prefix": "", "sortBy": {"column": "name", "order": "up"}}),
        ] {
            assert_eq!(
                ListOptions::parse(&bad).unwrap_err().code,
                "InvalidRequest",
                "{bad}"
            );
        }
    }

    #[test]
    fn prefixes_follow_the_schema() {
        assert_eq!(prefixes(&json!({"prefixes": ["a"]})).unwrap(), vec!["a"]);
        for bad in [
            json!({}),
            json!({"prefixes": []}),
            json!({"prefixes": [true]}),
        ] {
            assert!(prefixes(&bad).is_err(), "{bad}");
        }
    }
}
