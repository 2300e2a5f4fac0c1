//! The stand-in's schema cache: function signatures read from pg_catalog, and the settings of the
//! roles requests impersonate. Like PostgREST's cache it is reloaded by `NOTIFY pgrst` or SIGUSR1;
//! unlike it, a lookup that finds no matching function reads the catalog once more before
//! answering 404, so functions created by a migration show up without a reload.

use crate::errors::ApiError;
use deadpool_postgres::Pool;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    Volatile,
    Stable,
    Immutable,
}

/// How the result becomes the response body (PostgREST's "scalar vs table-valued" shaping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// `returns void`: 204 No Content.
    Void,
    /// One value: a scalar as that JSON value, a composite (table type, OUT params) as an object.
    Single,
    /// `setof` / `returns table`: a JSON array.
    Set,
    /// `returns record` without OUT parameters (no column list to select from).
    UntypedSingle,
    UntypedSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// The type as SQL, schema-qualified unless in pg_catalog (e.g. `public.app_role[]`).
    pub sql_type: String,
    pub required: bool,
    pub variadic: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routine {
    pub schema: String,
    pub name: String,
    /// Input parameters, in declaration order.
    pub params: Vec<Param>,
    /// Some input parameter has no name: only callable positionally, which PostgREST limits to
    /// a single unnamed json/text/bytea/xml body; the stand-in does not implement that.
    pub has_unnamed_params: bool,
    pub volatility: Volatility,
    pub returns: Returns,
    /// `statement_timeout` from the function's SET clause; PostgREST applies it to the
    /// transaction (a SET on the function itself cannot limit the statement calling it).
    pub statement_timeout: Option<String>,
}

impl Routine {
    /// `api.fn(a => integer, b => text)`, the form PostgREST uses in PGRST203.
    pub fn describe(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{} => {}", p.name, p.sql_type))
            .collect();
        format!("{}.{}({})", self.schema, self.name, params.join(", "))
    }

    /// True when a call naming exactly `keys` fits this signature.
    fn accepts(&self, keys: &BTreeSet<String>) -> bool {
        !self.has_unnamed_params
            && keys
                .iter()
                .all(|k| self.params.iter().any(|p| &p.name == k))
            && self
                .params
                .iter()
                .filter(|p| p.required)
                .all(|p| keys.contains(&p.name))
    }
}

/// Reads pg_proc for one (schema, name). `format_type` runs with `search_path = pg_catalog` so
/// every non-builtin type comes out schema-qualified and resolves whatever search_path the call
/// later runs with. `character` and `bit` would mean length 1 in a column list (parameters carry
/// no length), so they become their unlimited forms, as PostgREST does.
const ROUTINES_SQL: &str = "
select p.provolatile::text,
       p.proretset,
       p.prorettype = 'pg_catalog.void'::pg_catalog.regtype,
       p.prorettype = 'pg_catalog.record'::pg_catalog.regtype
         and not coalesce(p.proargmodes::text[] && array['o','b','t'], false),
       p.pronargdefaults::int4,
       p.provariadic <> 0,
       coalesce(p.proargnames, '{}'),
       coalesce(p.proargmodes::text[], '{}'),
       array(select case t::pg_catalog.regtype
                      when 'pg_catalog.bpchar'::pg_catalog.regtype then 'pg_catalog.bpchar'
                      when 'pg_catalog._bpchar'::pg_catalog.regtype then 'pg_catalog.bpchar[]'
                      when 'pg_catalog.bit'::pg_catalog.regtype then 'pg_catalog.varbit'
                      when 'pg_catalog._bit'::pg_catalog.regtype then 'pg_catalog.varbit[]'
                      else pg_catalog.format_type(t, null) end
               from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality u(t, i)
              order by i),
       (select substr(c, 19) from unnest(p.proconfig) c where c like 'statement\\_timeout=%' limit 1)
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
 where n.nspname = $1 and p.proname = $2
   and p.prokind = 'f'
   and p.prorettype not in ('pg_catalog.trigger'::pg_catalog.regtype,
                            'pg_catalog.event_trigger'::pg_catalog.regtype)
 order by p.oid";

/// Settings attached to a role (`alter role anon set statement_timeout = '3s'`), which PostgREST
/// applies as transaction-scoped settings when it impersonates that role. Database-specific
/// settings come last so they win, and settings the authenticator may not set are skipped, as
/// PostgREST does.
const ROLE_SETTINGS_SQL: &str = "
select split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)
  from pg_catalog.pg_db_role_setting s
  join pg_catalog.pg_roles r on r.oid = s.setrole
  cross join lateral unnest(s.setconfig) c
  left join pg_catalog.pg_settings ps on ps.name = split_part(c, '=', 1)
 where r.rolname = $1
   and s.setdatabase in (0, (select oid from pg_catalog.pg_database where datname = current_database()))
   and (ps.name is null or ps.context = 'user' or has_parameter_privilege(ps.name, 'SET'))
 order by s.setdatabase";

type Key = (String, String);
/// A role's settings as (name, value) pairs, in the order they must be applied.
pub type RoleSettings = Arc<Vec<(String, String)>>;

#[derive(Default)]
pub struct Catalog {
    routines: RwLock<HashMap<Key, Arc<Vec<Routine>>>>,
    role_settings: RwLock<HashMap<String, RoleSettings>>,
}

/// The outcome of matching a request's argument names against the overloads of a name.
pub enum Resolved {
    Found(Routine),
    /// PGRST202 (or STANDIN501 when only unnamed-parameter overloads exist).
    NotFound(ApiError),
    /// PGRST203.
    Ambiguous(ApiError),
}

impl Catalog {
    pub fn clear(&self) {
        write(&self.routines).clear();
        write(&self.role_settings).clear();
    }

    /// Finds the function `schema.name` that takes exactly the named `keys`.
    pub async fn resolve(
        &self,
        pool: &Pool,
        schema: &str,
        name: &str,
        keys: &BTreeSet<String>,
        post_json: bool,
    ) -> Result<Resolved, ApiError> {
        let key = (schema.to_string(), name.to_string());
        let cached = read(&self.routines).get(&key).cloned();
        let overloads = match cached {
            Some(o) if resolve_in(&o, schema, name, keys, post_json).is_found() => o,
            // Not cached, or cached but no fit: the catalog may have changed since.
            _ => {
                let fresh = Arc::new(load_routines(pool, schema, name).await?);
                write(&self.routines).insert(key, fresh.clone());
                fresh
            }
        };
        Ok(resolve_in(&overloads, schema, name, keys, post_json))
    }

    pub async fn role_settings(&self, pool: &Pool, role: &str) -> Result<RoleSettings, ApiError> {
        if let Some(s) = read(&self.role_settings).get(role) {
            return Ok(s.clone());
        }
        let client = pool.get().await.map_err(crate::call::pool_error)?;
        let rows = client
            .query(ROLE_SETTINGS_SQL, &[&role])
            .await
            .map_err(catalog_error)?;
        let settings: RoleSettings = Arc::new(rows.iter().map(|r| (r.get(0), r.get(1))).collect());
        write(&self.role_settings).insert(role.to_string(), settings.clone());
        Ok(settings)
    }
}

impl Resolved {
    fn is_found(&self) -> bool {
        matches!(self, Resolved::Found(_))
    }
}

// A poisoned lock only means another request panicked mid-update of a plain map; the data is
// still a valid cache, so keep serving.
fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

fn catalog_error(e: tokio_postgres::Error) -> ApiError {
    match e.as_db_error() {
        Some(db) => ApiError::from_db(db, false),
        None => crate::call::client_error(&e),
    }
}

async fn load_routines(pool: &Pool, schema: &str, name: &str) -> Result<Vec<Routine>, ApiError> {
    let mut client = pool.get().await.map_err(crate::call::pool_error)?;
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(catalog_error)?;
    tx.batch_execute("set local search_path to pg_catalog")
        .await
        .map_err(catalog_error)?;
    let rows = tx
        .query(ROUTINES_SQL, &[&schema, &name])
        .await
        .map_err(catalog_error)?;
    tx.commit().await.map_err(catalog_error)?;
    Ok(rows
        .iter()
        .map(|r| {
            routine_from_parts(
                schema,
                name,
                RawRoutine {
                    volatility: r.get(0),
                    retset: r.get(1),
                    returns_void: r.get(2),
                    untyped_record: r.get(3),
                    n_defaults: r.get(4),
                    variadic: r.get(5),
                    names: r.get(6),
                    modes: r.get(7),
                    types: r.get(8),
                    statement_timeout: r.get(9),
                },
            )
        })
        .collect())
}

/// One pg_proc row, as read.
pub struct RawRoutine {
    pub volatility: String,
    pub retset: bool,
    pub returns_void: bool,
    pub untyped_record: bool,
    pub n_defaults: i32,
    pub variadic: bool,
    pub names: Vec<String>,
    pub modes: Vec<String>,
    pub types: Vec<String>,
    pub statement_timeout: Option<String>,
}

/// pg_proc's parallel arrays -> input parameters. `proargmodes` is null when every argument is
/// IN; `proargnames` may be shorter than the arguments or hold '' for unnamed ones.
pub fn routine_from_parts(schema: &str, name: &str, raw: RawRoutine) -> Routine {
    let inputs: Vec<(String, String, bool)> = raw
        .types
        .iter()
        .enumerate()
        .filter_map(|(i, ty)| {
            let mode = raw.modes.get(i).map(String::as_str).unwrap_or("i");
            matches!(mode, "i" | "b" | "v").then(|| {
                let n = raw.names.get(i).cloned().unwrap_or_default();
                (n, ty.clone(), mode == "v")
            })
        })
        .collect();
    let n_required = inputs.len().saturating_sub(raw.n_defaults.max(0) as usize);
    let params: Vec<Param> = inputs
        .into_iter()
        .enumerate()
        .map(|(i, (name, sql_type, variadic))| Param {
            name,
            sql_type,
            required: i < n_required,
            variadic: variadic && raw.variadic,
        })
        .collect();
    let returns = match (raw.returns_void, raw.untyped_record, raw.retset) {
        (true, _, _) => Returns::Void,
        (false, true, true) => Returns::UntypedSet,
        (false, true, false) => Returns::UntypedSingle,
        (false, false, true) => Returns::Set,
        (false, false, false) => Returns::Single,
    };
    Routine {
        schema: schema.to_string(),
        name: name.to_string(),
        has_unnamed_params: params.iter().any(|p| p.name.is_empty()),
        params,
        volatility: match raw.volatility.as_str() {
            "i" => Volatility::Immutable,
            "s" => Volatility::Stable,
            _ => Volatility::Volatile,
        },
        returns,
        statement_timeout: raw.statement_timeout,
    }
}

/// PostgREST's overload resolution by argument names.
pub fn resolve_in(
    overloads: &[Routine],
    schema: &str,
    name: &str,
    keys: &BTreeSet<String>,
    post_json: bool,
) -> Resolved {
    let fits: Vec<&Routine> = overloads.iter().filter(|r| r.accepts(keys)).collect();
    match fits.as_slice() {
        [one] => Resolved::Found((*one).clone()),
        [] if overloads.iter().any(|r| r.has_unnamed_params) => Resolved::NotFound(
            ApiError::not_implemented(format!(
                "calling {schema}.{name}: it has unnamed parameters (PostgREST passes a whole body to a single unnamed json/text/bytea/xml parameter)"
            )),
        ),
        [] => Resolved::NotFound(not_found(overloads, schema, name, keys, post_json)),
        many => Resolved::Ambiguous(
            ApiError::new(
                300,
                "PGRST203",
                format!(
                    "Could not choose the best candidate function between: {}",
                    many.iter().map(|r| r.describe()).collect::<Vec<_>>().join(", ")
                ),
            )
            .hint("Try renaming the parameters or the function itself in the database so function overloading can be resolved"),
        ),
    }
}

/// PGRST202, worded as PostgREST words it.
fn not_found(
    overloads: &[Routine],
    schema: &str,
    name: &str,
    keys: &BTreeSet<String>,
    post_json: bool,
) -> ApiError {
    let func = format!("{schema}.{name}");
    let list = keys.iter().cloned().collect::<Vec<_>>().join(", ");
    let (message, mut details) = if keys.is_empty() {
        (
            format!("Could not find the function {func} without parameters in the schema cache"),
            format!("Searched for the function {func} without parameters"),
        )
    } else {
        let plural = if keys.len() > 1 { "s" } else { "" };
        (
            format!("Could not find the function {func}({list}) in the schema cache"),
            format!("Searched for the function {func} with parameter{plural} {list}"),
        )
    };
    if post_json {
        details.push_str(" or with a single unnamed json/jsonb parameter");
    }
    details.push_str(", but no matches were found in the schema cache.");
    let mut err = ApiError::new(404, "PGRST202", message).details(details);
    // PostgREST suggests the closest overload's parameters (by fuzzy match); the stand-in
    // suggests the overload sharing the most names with the request.
    if let Some(best) = overloads
        .iter()
        .filter(|r| !r.has_unnamed_params)
        .max_by_key(|r| r.params.iter().filter(|p| keys.contains(&p.name)).count())
    {
        let mut names: Vec<&str> = best.params.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        err = err.hint(format!(
            "Perhaps you meant to call the function {func}({})",
            names.join(", ")
        ));
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(names: &[&str], modes: &[&str], types: &[&str], n_defaults: i32) -> RawRoutine {
        RawRoutine {
            volatility: "v".into(),
            retset: false,
            returns_void: false,
            untyped_record: false,
            n_defaults,
            variadic: false,
            names: names.iter().map(|s| s.to_string()).collect(),
            modes: modes.iter().map(|s| s.to_string()).collect(),
            types: types.iter().map(|s| s.to_string()).collect(),
            statement_timeout: None,
        }
    }

    fn keys(k: &[&str]) -> BTreeSet<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn input_params_skip_out_and_table_columns_and_know_defaults() {
        let r = routine_from_parts(
            "api",
            "f",
            raw(
                &["a", "b", "o", "c"],
                &["i", "b", "o", "i"],
                &["integer", "text", "uuid", "jsonb"],
                1,
            ),
        );
        let got: Vec<(&str, bool)> = r
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.required))
            .collect();
        assert_eq!(got, vec![("a", true), ("b", true), ("c", false)]);
        assert!(!r.has_unnamed_params);
    }

    #[test]
    fn resolution_follows_names_required_and_defaults() {
        let f = routine_from_parts("api", "f", raw(&["a", "b"], &[], &["integer", "text"], 1));
        let o = [f];
        assert!(resolve_in(&o, "api", "f", &keys(&["a"]), true).is_found());
        assert!(resolve_in(&o, "api", "f", &keys(&["a", "b"]), true).is_found());
        let Resolved::NotFound(e) = resolve_in(&o, "api", "f", &keys(&["b"]), true) else {
            panic!("missing required arg must not resolve")
        };
        assert_eq!((e.status, e.code.as_str()), (404, "PGRST202"));
        assert_eq!(
            e.message,
            "Could not find the function api.f(b) in the schema cache"
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("Perhaps you meant to call the function api.f(a, b)")
        );
        let Resolved::NotFound(e) = resolve_in(&o, "api", "f", &keys(&["a", "zz"]), false) else {
            panic!("unknown arg must not resolve")
        };
        assert_eq!(
            e.details.as_deref(),
            Some("Searched for the function api.f with parameters a, zz, but no matches were found in the schema cache.")
        );
        let Resolved::NotFound(e) = resolve_in(&[], "api", "nope", &keys(&[]), true) else {
            panic!()
        };
        assert_eq!(
            e.message,
            "Could not find the function api.nope without parameters in the schema cache"
        );
        assert_eq!(e.hint, None);
    }

    #[test]
    fn same_names_different_types_is_ambiguous() {
        let a = routine_from_parts("api", "f", raw(&["a"], &[], &["integer"], 0));
        let b = routine_from_parts("api", "f", raw(&["a"], &[], &["text"], 0));
        let Resolved::Ambiguous(e) = resolve_in(&[a, b], "api", "f", &keys(&["a"]), true) else {
            panic!("expected PGRST203")
        };
        assert_eq!((e.status, e.code.as_str()), (300, "PGRST203"));
        assert!(
            e.message.contains("api.f(a => integer), api.f(a => text)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unnamed_parameters_are_reported_as_not_implemented() {
        let f = routine_from_parts("api", "f", raw(&[], &[], &["json"], 0));
        let Resolved::NotFound(e) = resolve_in(&[f], "api", "f", &keys(&["x"]), true) else {
            panic!()
        };
        assert_eq!((e.status, e.code.as_str()), (501, "STANDIN501"));
    }
}
