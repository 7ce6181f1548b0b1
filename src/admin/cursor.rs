//! Opaque list cursors (docs/admin.md): the position `(at, id)` of the last row of a page, as
//! base64url. Lists are ordered by `(at, id)` descending, so rows added later sort before the
//! cursor and a page never repeats or skips a row that existed when the first page was read.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::AdminError;

pub fn encode(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", at.timestamp_micros(), id.simple()))
}

pub fn decode(cursor: &str) -> Result<(DateTime<Utc>, Uuid), AdminError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| AdminError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| AdminError::BadCursor)?;
    let (micros, id) = text.split_once('.').ok_or(AdminError::BadCursor)?;
    let at = micros.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or(AdminError::BadCursor)?;
    let id = Uuid::parse_str(id).map_err(|_| AdminError::BadCursor)?;
    Ok((at, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_micros(1_767_222_000_123_456).unwrap();
        let id = Uuid::new_v4();
        assert_eq!(decode(&encode(at, id)).unwrap(), (at, id));
        for bad in ["", "!!", "bm90LWEtY3Vyc29y", &URL_SAFE_NO_PAD.encode("12.not-a-uuid")] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
