//! Stateless resumption tokens: the list's arguments and the keyset position, with a
//! checksum. Nothing is kept on the server, so tokens never expire and survive restarts
//! and any number of `sheaf serve` processes behind one URL.
//!
//! The checksum catches corrupted or edited tokens (`badResumptionToken`); it is not a
//! secret signature, and needs none: a forged token can only ask for what the same
//! arguments would select anyway.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Everything needed to produce the next page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListToken {
    /// `ListIdentifiers` or `ListRecords`: a token resumes only the verb that issued it.
    pub verb: String,
    /// `metadataPrefix` of the list.
    pub prefix: String,
    /// `from` as the harvester wrote it.
    pub from: Option<String>,
    /// `until` as the harvester wrote it.
    pub until: Option<String>,
    /// `set`.
    pub set: Option<String>,
    /// The last record id served; the next page starts after it.
    pub after: i64,
    /// Records served before the next page (the next `cursor` attribute).
    pub cursor: u64,
    /// completeListSize, counted once when the list started.
    pub total: u64,
}

const DOMAIN: &[u8] = b"sheaf oai token v1";

fn checksum(payload: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(payload);
    hex(&h.finalize()[..8])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

impl ListToken {
    /// The opaque token text (hex letters and one `.`: safe in URLs and XML unescaped).
    pub fn encode(&self) -> String {
        // Serializing a struct of strings and integers cannot fail.
        let payload = serde_json::to_vec(self).unwrap_or_default();
        format!("{}.{}", hex(&payload), checksum(&payload))
    }

    /// Reads a token; `None` when it was not issued by this provider or was altered.
    pub fn decode(s: &str) -> Option<Self> {
        let (body, sum) = s.trim().split_once('.')?;
        let payload = unhex(body)?;
        if checksum(&payload) != sum {
            return None;
        }
        serde_json::from_slice(&payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> ListToken {
        ListToken {
            verb: "ListRecords".into(),
            prefix: "oai_dc".into(),
            from: Some("2022-01-01".into()),
            until: None,
            set: Some("dvostok:articles".into()),
            after: 4711,
            cursor: 100,
            total: 250,
        }
    }

    #[test]
    fn tokens_round_trip() {
        let t = token();
        assert_eq!(ListToken::decode(&t.encode()), Some(t));
    }

    #[test]
    fn any_changed_character_is_refused() {
        let s = token().encode();
        for i in 0..s.len() {
            let mut b = s.clone().into_bytes();
            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
            let altered = String::from_utf8(b).unwrap();
            if altered != s {
                assert_eq!(ListToken::decode(&altered), None, "position {i}");
            }
        }
        assert_eq!(ListToken::decode(""), None);
        assert_eq!(ListToken::decode("abc"), None);
        assert_eq!(ListToken::decode("zz.00"), None);
    }
}
