//! Fetches the file from its signed URL, refusing more than the worker's size cap before
//! reading it all.

use crate::task::Failure;
use std::io::Read;

pub fn download(agent: &ureq::Agent, url: &str, max_bytes: u64) -> Result<Vec<u8>, Failure> {
    let too_large = || {
        const MIB: u64 = 1024 * 1024;
        let limit = if max_bytes.is_multiple_of(MIB) {
            format!("{} MiB", max_bytes / MIB)
        } else {
            format!("{max_bytes} bytes")
        };
        Failure::Final(format!(
            "the file is larger than the ingest worker's limit of {limit}"
        ))
    };
    let response = match agent.get(url).call() {
        Ok(r) => r,
        // Gone from storage (deleted since it was registered): no retry brings it back.
        Err(ureq::Error::Status(404, _)) => {
            return Err(Failure::Final(
                "the uploaded file is no longer in storage".into(),
            ))
        }
        // Anything else (an expired signature included: the next attempt's claim signs a new
        // URL) may work later.
        Err(ureq::Error::Status(status, _)) => {
            return Err(Failure::Transient(format!(
                "the file could not be downloaded: storage answered {status}"
            )))
        }
        Err(e) => {
            return Err(Failure::Transient(format!(
                "the file could not be downloaded: {e}"
            )))
        }
    };
    let declared = response
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_bytes) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    response
        .into_reader()
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Transient(format!("the file could not be downloaded: {e}")))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(bytes)
}
