//! The input limits a function checks itself before calling SQL, so a bad request fails
//! before any network hop. SQL owns every limit (`api.input_limits()`); these are copies,
//! listed in [`CHECKED_IN_RUST`] under SQL's names, and the end-to-end test `limits_agree`
//! fails when a copy differs from SQL's. A limit a function does not check has no copy here.

pub const PROMPT_CHARS: usize = 20_000;
pub const MODEL_CHARS: usize = 128;
pub const IDEMPOTENCY_KEY_CHARS: usize = 200;
pub const PAGE_LIMIT_MAX: u32 = 100;
pub const REASON_CHARS: usize = 500;
pub const CREDIT_AMOUNT_MAX: i64 = 1_000_000_000;
pub const WORKER_NAME_CHARS: usize = 100;
pub const WORKER_CAPABILITIES_MAX: usize = 50;
pub const TASK_TYPE_CHARS: usize = 64;
pub const CLAIM_LIMIT_MAX: i64 = 100;
pub const LEASE_SECONDS_MIN: i64 = 10;
pub const LEASE_SECONDS_MAX: i64 = 3600;
pub const TASK_OUTPUT_BYTES: usize = 16_384;
pub const TASK_ERROR_CHARS: usize = 2000;
pub const TASK_DURATION_SECONDS_MAX: f64 = 86_400.0;
pub const TITLE_CHARS: usize = 200;
pub const Q_CHARS: usize = 200;
pub const DELETE_IDS_MAX: usize = 100;

/// Every copy above, by the key `api.input_limits()` gives it.
pub const CHECKED_IN_RUST: &[(&str, i64)] = &[
    ("prompt_chars", PROMPT_CHARS as i64),
    ("model_chars", MODEL_CHARS as i64),
    ("idempotency_key_chars", IDEMPOTENCY_KEY_CHARS as i64),
    ("page_limit_max", PAGE_LIMIT_MAX as i64),
    ("reason_chars", REASON_CHARS as i64),
    ("credit_amount_max", CREDIT_AMOUNT_MAX),
    ("worker_name_chars", WORKER_NAME_CHARS as i64),
    ("worker_capabilities_max", WORKER_CAPABILITIES_MAX as i64),
    ("task_type_chars", TASK_TYPE_CHARS as i64),
    ("claim_limit_max", CLAIM_LIMIT_MAX),
    ("lease_seconds_min", LEASE_SECONDS_MIN),
    ("lease_seconds_max", LEASE_SECONDS_MAX),
    ("task_output_bytes", TASK_OUTPUT_BYTES as i64),
    ("task_error_chars", TASK_ERROR_CHARS as i64),
    (
        "task_duration_seconds_max",
        TASK_DURATION_SECONDS_MAX as i64,
    ),
    ("title_chars", TITLE_CHARS as i64),
    ("q_chars", Q_CHARS as i64),
    ("delete_ids_max", DELETE_IDS_MAX as i64),
];
