use crate::error::ApiError;
use serde_json::Value;
use uuid::Uuid;

/// Claims of a verified token. Only produced by [`super::verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub sub: Option<String>,
    pub role: Option<String>,
    pub email: Option<String>,
    pub session_id: Option<String>,
    /// The whole payload, for claims we do not model (`app_metadata`, `aal`, ...).
    pub raw: Value,
}

impl Claims {
    pub(super) fn from_payload(raw: Value) -> Claims {
        let text = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_owned);
        Claims {
            sub: text("sub"),
            role: text("role"),
            email: text("email"),
            session_id: text("session_id"),
            raw,
        }
    }

    /// `exp` as verified (seconds, possibly fractional); always present on verified claims.
    pub(super) fn expires_at(&self) -> Option<f64> {
        self.raw.get("exp").and_then(Value::as_f64)
    }

    /// The Supabase user id; `None` for the anon and service_role keys.
    pub fn user_id(&self) -> Option<Uuid> {
        self.sub.as_deref().and_then(|s| Uuid::parse_str(s).ok())
    }

    /// For endpoints that act for a user: a 401 if the token is not a user's.
    pub fn require_user_id(&self) -> Result<Uuid, ApiError> {
        self.user_id()
            .ok_or_else(|| ApiError::unauthorized("this endpoint requires a signed-in user"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_id_is_the_sub_claim_when_it_is_a_uuid() {
        let id = "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10";
        let claims = Claims::from_payload(json!({"sub": id, "role": "authenticated"}));
        assert_eq!(claims.user_id().unwrap().to_string(), id);
        assert_eq!(claims.require_user_id().unwrap().to_string(), id);
    }

    #[test]
    fn anon_tokens_have_no_user_id() {
        let claims = Claims::from_payload(json!({"role": "anon", "iss": "supabase"}));
        assert_eq!(claims.user_id(), None);
        assert_eq!(claims.require_user_id().unwrap_err().status, 401);
        let claims = Claims::from_payload(json!({"sub": "not-a-uuid"}));
        assert_eq!(claims.user_id(), None);
    }
}
