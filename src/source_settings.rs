//! Per-source settings (`sources.settings`, JSONB): HTTP overrides for endpoints that need
//! them — longer timeouts, custom headers, basic auth, a private CA — and harvest limits.
//!
//! Secrets are never stored: basic auth names an environment variable or a file that holds
//! the password, read when a run starts. Custom header values are shown redacted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::oai::EndpointOptions;

/// What a source may override; every field is optional and defaults to the global config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSettings {
    /// TCP + TLS connect deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout_secs: Option<u64>,
    /// Longest silence while reading a body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_timeout_secs: Option<u64>,
    /// Deadline for one whole request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_secs: Option<u64>,
    /// Longest a run may take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_deadline_secs: Option<u64>,
    /// Cap on one decompressed response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_response_mib: Option<u64>,
    /// Cap on one record's metadata; larger records are quarantined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_record_kib: Option<u64>,
    /// Send requests as form POSTs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_post: Option<bool>,
    /// Largest date window of a first harvest in days; 0 = one list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_days: Option<u64>,
    /// Extra request headers (an API key, a `Referer` a firewall wants).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// HTTP basic auth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// PEM file of extra CA certificates to trust for this source (a national CA, a
    /// university's own); the system roots stay trusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
}

/// Basic auth by reference: the password comes from an environment variable or a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// File holding the password (trailing newline ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

/// Why settings are unusable; each names the setting.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// Not the expected shape.
    #[error("invalid source settings: {0}")]
    Shape(String),
    /// A header name or value HTTP cannot carry, or one sheaf sets itself.
    #[error("header {name:?}: {reason}")]
    Header {
        /// The header.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Basic auth without exactly one password source, or an unreadable one.
    #[error("basic_auth: {0}")]
    Auth(String),
    /// The CA bundle cannot be read or holds no certificate.
    #[error("ca_bundle {path}: {reason}")]
    CaBundle {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Headers sheaf sets itself (or that would break the protocol) and a source may not.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "accept-encoding",
    "authorization",
];

impl SourceSettings {
    /// Reads settings from their stored JSON (`{}` = none).
    pub fn from_json(v: &serde_json::Value) -> Result<Self, SettingsError> {
        serde_json::from_value(v.clone()).map_err(|e| SettingsError::Shape(e.to_string()))
    }

    /// The JSON to store.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}))
    }

    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// Checks everything that can be checked without contacting the server: header names
    /// and values, the password source, the CA bundle.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.endpoint_options().map(|_| ())
    }

    /// The run deadline override.
    pub fn run_deadline(&self) -> Option<Duration> {
        self.run_deadline_secs.map(Duration::from_secs)
    }

    /// The per-record cap override, in bytes.
    pub fn max_record_bytes(&self) -> Option<u64> {
        self.max_record_kib.map(|k| k.saturating_mul(1024))
    }

    /// The window override: `Some(None)` = windows off.
    pub fn window(&self) -> Option<Option<Duration>> {
        self.window_days
            .map(|d| (d > 0).then(|| Duration::from_secs(d * 86_400)))
    }

    /// The HTTP options, with the password and CA bundle read now.
    pub fn endpoint_options(&self) -> Result<EndpointOptions, SettingsError> {
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            let bad = |reason: &str| SettingsError::Header {
                name: name.clone(),
                reason: reason.to_owned(),
            };
            let n =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("not a header name"))?;
            if RESERVED_HEADERS.contains(&n.as_str()) {
                return Err(bad("set by sheaf (use basic_auth for Authorization)"));
            }
            let mut v =
                HeaderValue::from_str(value).map_err(|_| bad("not a valid header value"))?;
            v.set_sensitive(true);
            headers.push((n, v));
        }
        let basic_auth = self
            .basic_auth
            .as_ref()
            .map(BasicAuth::resolve)
            .transpose()?;
        let ca_bundle_pem = self
            .ca_bundle
            .as_ref()
            .map(|p| read_ca_bundle(p))
            .transpose()?;
        let secs = |s: Option<u64>| s.map(Duration::from_secs);
        Ok(EndpointOptions {
            headers,
            basic_auth,
            ca_bundle_pem,
            connect_timeout: secs(self.connect_timeout_secs),
            read_timeout: secs(self.read_timeout_secs),
            request_timeout: secs(self.request_timeout_secs),
            max_response_bytes: self.max_response_mib.map(|m| m.saturating_mul(1 << 20)),
            use_post: self.use_post,
        })
    }

    /// A copy safe to print: header values and file paths of secrets kept, values hidden.
    pub fn redacted(&self) -> serde_json::Value {
        let mut copy = self.clone();
        for v in copy.headers.values_mut() {
            *v = "***".into();
        }
        copy.to_json()
    }
}

impl BasicAuth {
    fn resolve(&self) -> Result<(String, String), SettingsError> {
        let password = match (&self.password_env, &self.password_file) {
            (Some(var), None) if var.starts_with("SHEAF_") => {
                return Err(SettingsError::Auth(format!(
                    "{var}: variables starting with SHEAF_ are read as sheaf configuration; choose another name"
                )));
            }
            (Some(var), None) => std::env::var(var).map_err(|_| {
                SettingsError::Auth(format!("environment variable {var} is not set"))
            })?,
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| SettingsError::Auth(format!("{}: {e}", path.display())))?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
            _ => {
                return Err(SettingsError::Auth(
                    "give exactly one of password_env or password_file".into(),
                ));
            }
        };
        Ok((self.username.clone(), password))
    }
}

fn read_ca_bundle(path: &std::path::Path) -> Result<Vec<u8>, SettingsError> {
    let err = |reason: String| SettingsError::CaBundle {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in the file".into()));
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_settings_round_trip_as_an_empty_object() {
        let s = SourceSettings::default();
        assert!(s.is_empty());
        assert_eq!(s.to_json(), serde_json::json!({}));
        assert_eq!(SourceSettings::from_json(&serde_json::json!({})), Ok(s));
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_by_name() {
        let e = SourceSettings::from_json(&serde_json::json!({"timeout": 5})).unwrap_err();
        assert!(e.to_string().contains("timeout"), "{e}");
        let e =
            SourceSettings::from_json(&serde_json::json!({"window_days": "a year"})).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
    }

    #[test]
    fn headers_are_checked_and_redacted() {
        let mut s = SourceSettings::default();
        s.headers.insert("X-Api-Key".into(), "secret".into());
        let opts = s.endpoint_options().unwrap();
        assert_eq!(opts.headers[0].0.as_str(), "x-api-key");
        assert!(opts.headers[0].1.is_sensitive());
        assert_eq!(s.redacted()["headers"]["X-Api-Key"], "***");
        for (name, value) in [
            ("Host", "x"),
            ("Authorization", "Basic x"),
            ("bad name", "x"),
        ] {
            let mut s = SourceSettings::default();
            s.headers.insert(name.into(), value.into());
            assert!(
                matches!(s.validate(), Err(SettingsError::Header { .. })),
                "{name}"
            );
        }
        let mut s = SourceSettings::default();
        s.headers.insert("X-Ok".into(), "line\nbreak".into());
        assert!(s.validate().is_err());
    }

    #[test]
    fn basic_auth_needs_exactly_one_password_source() {
        let auth = |env: Option<&str>, file: Option<&str>| SourceSettings {
            basic_auth: Some(BasicAuth {
                username: "harvester".into(),
                password_env: env.map(String::from),
                password_file: file.map(PathBuf::from),
            }),
            ..SourceSettings::default()
        };
        assert!(matches!(
            auth(None, None).validate(),
            Err(SettingsError::Auth(_))
        ));
        assert!(matches!(
            auth(Some("HARVEST_TEST_NO_SUCH_VAR_7"), None).validate(),
            Err(SettingsError::Auth(m)) if m.contains("HARVEST_TEST_NO_SUCH_VAR_7")
        ));
        assert!(matches!(
            auth(Some("SHEAF_PASSWORD"), None).validate(),
            Err(SettingsError::Auth(m)) if m.contains("sheaf configuration")
        ));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").unwrap();
        let opts = auth(None, f.to_str()).endpoint_options().unwrap();
        assert_eq!(
            opts.basic_auth,
            Some(("harvester".to_owned(), "s3cret".to_owned()))
        );
        assert!(auth(Some("PATH"), f.to_str()).validate().is_err());
    }

    #[test]
    fn a_ca_bundle_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ca.pem");
        std::fs::write(&f, "not a certificate").unwrap();
        let s = SourceSettings {
            ca_bundle: Some(f),
            ..SourceSettings::default()
        };
        assert!(matches!(s.validate(), Err(SettingsError::CaBundle { .. })));
        let missing = SourceSettings {
            ca_bundle: Some(dir.path().join("none.pem")),
            ..SourceSettings::default()
        };
        assert!(matches!(
            missing.validate(),
            Err(SettingsError::CaBundle { .. })
        ));
    }

    #[test]
    fn windows_can_be_switched_off_per_source() {
        let off = SourceSettings {
            window_days: Some(0),
            ..SourceSettings::default()
        };
        assert_eq!(off.window(), Some(None));
        assert_eq!(SourceSettings::default().window(), None);
    }
}
