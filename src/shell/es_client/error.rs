//! The errors of the Elasticsearch client, phrased for the operator, and the helpers that
//! turn an HTTP answer into one (its `error.reason`, a short quote of the body, a decode
//! failure). It must not send requests, and no error may carry a password or a request body.

use serde::Deserialize;

/// Longest slice of an error body quoted when Elasticsearch sends no `error.reason`.
const MAX_QUOTED_BODY: usize = 300;

pub(super) const UNREACHABLE_HINT: &str = "is Elasticsearch running? Check `systemctl status elasticsearch` \
     and the Elasticsearch log (for example /var/log/elasticsearch/<cluster>.log)";

/// Failures, phrased for the operator. None of them carries a password or a request body.
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("cannot reach Elasticsearch at {url}: {reason}; {UNREACHABLE_HINT}")]
    Unreachable { url: String, reason: String },

    #[error("TLS problem talking to {url}: {reason}")]
    Tls { url: String, reason: String },

    #[error("{}", unauthorized_text(user.as_deref(), reason))]
    Unauthorized {
        url: String,
        user: Option<String>,
        reason: String,
    },

    #[error(
        "Elasticsearch refused {what} to user {user} (HTTP 403): {reason}; \
         the user needs the superuser role (or the privileges this call requires)"
    )]
    Forbidden {
        what: String,
        user: String,
        reason: String,
    },

    #[error("{what} failed with HTTP {code}: {reason}")]
    Status {
        what: String,
        code: u16,
        reason: String,
    },

    #[error("unexpected answer from Elasticsearch for {what}: {reason}")]
    Decode { what: String, reason: String },

    #[error("bad Elasticsearch request for {what}: {reason}")]
    Request { what: String, reason: String },

    #[error("interrupted while {what}")]
    Interrupted { what: String },

    #[error(
        "Elasticsearch at {url} was not healthy after {waited_secs} s ({attempts} attempts); \
         last outcome: {last}; {hint}"
    )]
    NotHealthy {
        url: String,
        waited_secs: u64,
        attempts: u32,
        last: String,
        hint: String,
    },
}

fn unauthorized_text(user: Option<&str>, reason: &str) -> String {
    match user {
        Some(u) => format!(
            "Elasticsearch rejected the credentials of user {u} (HTTP 401): {reason}; check the \
             password (a user just added to the file realm needs a few seconds until \
             Elasticsearch reloads the users file)"
        ),
        None => format!(
            "Elasticsearch requires authentication (HTTP 401) and no credentials were given: \
             {reason}"
        ),
    }
}

impl EsError {
    /// Worth another attempt while a node starts or reloads its realms.
    pub(super) fn is_transient(&self) -> bool {
        match self {
            EsError::Unreachable { .. } | EsError::Unauthorized { .. } => true,
            // 408: health wait timed out; 429: busy; 5xx: master not discovered, security
            // index not recovered yet.
            EsError::Status { code, .. } => *code == 408 || *code == 429 || *code >= 500,
            _ => false,
        }
    }

    /// Few words for progress lines.
    pub fn short(&self) -> String {
        match self {
            EsError::Unreachable { reason, .. } => format!("unreachable ({reason})"),
            EsError::Tls { reason, .. } => format!("TLS error ({reason})"),
            EsError::Unauthorized { user, .. } => match user {
                Some(u) => format!("HTTP 401 for {u}"),
                None => "HTTP 401 (no credentials)".to_string(),
            },
            EsError::Forbidden { user, .. } => format!("HTTP 403 for {user}"),
            EsError::Status { code, reason, .. } => format!("HTTP {code}: {reason}"),
            other => other.to_string(),
        }
    }
}

/// `error.reason` (with `error.type`) from an Elasticsearch error body, else a short quote.
pub(super) fn error_reason(body: &str) -> String {
    #[derive(Deserialize)]
    struct Inner {
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField {
        Structured(Inner),
        Text(String),
    }
    #[derive(Deserialize)]
    struct Body {
        error: ErrorField,
    }
    match serde_json::from_str::<Body>(body) {
        Ok(Body {
            error: ErrorField::Structured(Inner { kind, reason }),
        }) => match (reason, kind) {
            (Some(r), Some(k)) => format!("{r} [{k}]"),
            (Some(r), None) => r,
            (None, Some(k)) => k,
            (None, None) => quote_body(body),
        },
        Ok(Body {
            error: ErrorField::Text(t),
        }) => t,
        Err(_) => quote_body(body),
    }
}

fn quote_body(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "(empty body)".to_string();
    }
    let mut end = trimmed.len().min(MAX_QUOTED_BODY);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    if end < trimmed.len() {
        format!("{}…", &trimmed[..end])
    } else {
        trimmed.to_string()
    }
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(what: &str, body: &str) -> Result<T, EsError> {
    serde_json::from_str(body).map_err(|e| EsError::Decode {
        what: what.to_string(),
        reason: format!("{e} in {}", quote_body(body)),
    })
}

/// Replace every occurrence of `secret` in the error's free text.
pub(super) fn redact_error(err: EsError, secret: &str) -> EsError {
    if secret.is_empty() {
        return err;
    }
    let clean = |s: String| s.replace(secret, "<redacted>");
    match err {
        EsError::Status { what, code, reason } => EsError::Status {
            what,
            code,
            reason: clean(reason),
        },
        EsError::Decode { what, reason } => EsError::Decode {
            what,
            reason: clean(reason),
        },
        EsError::Request { what, reason } => EsError::Request {
            what,
            reason: clean(reason),
        },
        EsError::Forbidden { what, user, reason } => EsError::Forbidden {
            what,
            user,
            reason: clean(reason),
        },
        EsError::Unauthorized { url, user, reason } => EsError::Unauthorized {
            url,
            user,
            reason: clean(reason),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn error_reason_from_es_body() {
        let body = r#"{"error":{"root_cause":[{"type":"x","reason":"y"}],"type":"illegal_argument_exception","reason":"Unknown filter type [pattern_capture]"},"status":400}"#;
        assert_eq!(
            error_reason(body),
            "Unknown filter type [pattern_capture] [illegal_argument_exception]"
        );
        assert_eq!(error_reason(r#"{"error":"plain"}"#), "plain");
        assert_eq!(error_reason(""), "(empty body)");
        assert!(error_reason(&"x".repeat(1000)).ends_with('…'));
    }

    #[test]
    fn redaction_removes_password_from_error_text() {
        let e = EsError::Status {
            what: "w".into(),
            code: 400,
            reason: "could not parse [s3cr3t-pass]".into(),
        };
        let e = redact_error(e, "s3cr3t-pass");
        assert!(!e.to_string().contains("s3cr3t"));
        assert!(!format!("{e:?}").contains("s3cr3t"));
    }
}
