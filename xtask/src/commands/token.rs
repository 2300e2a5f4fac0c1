use anyhow::{bail, Result};
use xtask::keys::{access_token_claims, now, Keys};
use xtask::stack::StackEnv;
use xtask::users::ensure_user;

/// Prints only an access token, so `TOKEN=$(cargo xtask token a@example.com)` works.
pub fn run(args: &[String]) -> Result<()> {
    let mut email = None;
    let mut role = "authenticated".to_string();
    let (mut expired, mut hs256) = (false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--role" => role = it.next().cloned().unwrap_or_default(),
            "--expired" => expired = true,
            "--hs256" => hs256 = true,
            other if !other.starts_with("--") && email.is_none() => email = Some(other.to_string()),
            other => bail!("unexpected argument {other:?}"),
        }
    }
    let Some(email) = email else {
        bail!("usage: cargo xtask token <email> [--role authenticated|service_role] [--expired] [--hs256]")
    };
    if role != "authenticated" && role != "service_role" {
        bail!("--role must be authenticated or service_role");
    }
    let env = StackEnv::read_dev()?;
    let mut db = postgres::Client::connect(env.get("DATABASE_URL"), postgres::NoTls)?;
    let id = ensure_user(&mut db, &email)?;
    let exp = if expired { now() - 3600 } else { now() + 3600 };
    let claims = access_token_claims(env.get("JWT_ISSUER"), &id.to_string(), &email, &role, exp);
    let keys = Keys::load_or_create()?;
    let token = if hs256 {
        keys.sign_hs256(&claims)?
    } else {
        keys.sign_es256(&claims)?
    };
    println!("{token}");
    Ok(())
}
