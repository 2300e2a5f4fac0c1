//! Local users: what Supabase Auth would do on sign-up, reduced to one insert.

use anyhow::Result;

/// Returns the id of the auth user with `email`, creating it (and so its profile) if missing.
pub fn ensure_user(db: &mut postgres::Client, email: &str) -> Result<uuid::Uuid> {
    let row = db.query_one(
        "with ins as (
           insert into auth.users (email, raw_user_meta_data)
           values ($1, jsonb_build_object('display_name', split_part($1, '@', 1)))
           on conflict (email) do nothing returning id)
         select id from ins union all select id from auth.users where email = $1 limit 1",
        &[&email],
    )?;
    Ok(row.get(0))
}
