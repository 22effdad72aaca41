//! Certificate expiry as a monitor sees it: one row per certificate file es-secure manages
//! (this node's transport/HTTP certificates, Kibana's server certificate) and the CA, with its
//! not-after date and whether it falls within a window of days. Pure: it reads [`Facts`]
//! only, and must not decide what to do about an expiring certificate (that is `renew`).

use std::path::PathBuf;

use serde::Serialize;

use crate::domain::facts::Facts;

const DAY: i64 = 86_400;

/// What the row is about.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A leaf certificate Elasticsearch or Kibana uses.
    Certificate,
    /// es-secure's CA (in its state directory).
    Ca,
}

/// One certificate and its expiry.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Row {
    pub kind: Kind,
    pub file: PathBuf,
    /// RFC 3339, UTC (`2027-01-31T12:00:00Z`).
    pub not_after: String,
    pub not_after_unix: i64,
    /// Whole days left (negative once expired).
    pub days_left: i64,
    /// Expires within the window asked for (`--check-expiry DAYS`); already expired counts.
    pub within: bool,
}

/// The expiry report `status --check-expiry DAYS` prints and `--json` carries.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub within_days: u32,
    pub rows: Vec<Row>,
}

impl Report {
    /// Whether any certificate or the CA expires within the window.
    pub fn any_within(&self) -> bool {
        self.rows.iter().any(|r| r.within)
    }
}

/// Every managed certificate and the CA, each judged against `within_days` from `facts.now`.
pub fn report(facts: &Facts, within_days: u32) -> Report {
    let limit = facts.now.saturating_add(i64::from(within_days) * DAY);
    let row = |kind, file: PathBuf, not_after: i64| Row {
        kind,
        file,
        not_after: rfc3339(not_after),
        not_after_unix: not_after,
        days_left: (not_after - facts.now).div_euclid(DAY),
        within: not_after <= limit,
    };
    let mut rows = Vec::new();
    let es_certs = facts.es.config_dir.join("certs");
    for (name, c) in &facts.es.certs {
        rows.push(row(Kind::Certificate, es_certs.join(name), c.not_after));
    }
    if let Some(k) = &facts.kibana {
        let dir = k.config_dir.join("certs");
        for (name, c) in &k.certs {
            rows.push(row(Kind::Certificate, dir.join(name), c.not_after));
        }
    }
    if let Some(ca) = &facts.ca {
        rows.push(row(Kind::Ca, ca.cert_path.clone(), ca.not_after));
    }
    Report {
        schema_version: 1,
        within_days,
        rows,
    }
}

/// The report as text: one line per row, those within the window marked.
pub fn render(report: &Report) -> String {
    let mut out = format!("Expiry (within {} days):\n", report.within_days);
    if report.rows.is_empty() {
        out.push_str("  no certificates managed by es-secure on this host\n");
    }
    for r in &report.rows {
        let what = match r.kind {
            Kind::Certificate => "cert",
            Kind::Ca => "CA  ",
        };
        let when = if r.days_left < 0 {
            format!("EXPIRED {} days ago", -r.days_left)
        } else {
            format!("{} days left", r.days_left)
        };
        let mark = if r.within { "  <- WITHIN" } else { "" };
        out.push_str(&format!(
            "  {what} {}: not after {} ({when}){mark}\n",
            r.file.display(),
            r.not_after
        ));
    }
    out
}

/// `2027-01-31T12:00:00Z`; a time out of range is shown as its Unix seconds.
pub fn rfc3339(t: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => format!("@{t}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::facts::ExistingCert;

    const NOW: i64 = 1_800_000_000;

    fn cert(days: i64) -> ExistingCert {
        ExistingCert {
            dns: vec![],
            ip: vec![],
            not_after: NOW + days * DAY,
            key_type: None,
            key_matches: true,
            signed_by_ca: true,
            signed_by_trusted_ca: false,
            has_chain: true,
            common_name: None,
            serial: String::new(),
            not_before: NOW,
        }
    }

    fn facts_with(transport_days: i64, http_days: Option<i64>) -> Facts {
        let mut f = crate::domain::facts::sample_facts("node.name: n1\n", NOW);
        f.es.certs
            .insert("transport.crt".into(), cert(transport_days));
        if let Some(d) = http_days {
            f.es.certs.insert("http.crt".into(), cert(d));
        }
        f
    }

    #[test]
    fn a_certificate_inside_the_window_is_flagged_and_one_outside_is_not() {
        let r = report(&facts_with(400, Some(10)), 30);
        assert!(r.any_within());
        let http = r
            .rows
            .iter()
            .find(|r| r.file.ends_with("http.crt"))
            .unwrap();
        assert!(http.within);
        assert_eq!(http.days_left, 10);
        let transport = r
            .rows
            .iter()
            .find(|r| r.file.ends_with("transport.crt"))
            .unwrap();
        assert!(!transport.within);
        assert!(!report(&facts_with(400, Some(40)), 30).any_within());
    }

    #[test]
    fn an_expired_certificate_counts_and_the_boundary_is_inclusive() {
        let r = report(&facts_with(-2, None), 0);
        assert!(r.any_within());
        assert_eq!(r.rows[0].days_left, -2);
        assert!(render(&r).contains("EXPIRED 2 days ago"), "{}", render(&r));
        // Exactly DAYS from now is within DAYS.
        assert!(report(&facts_with(30, None), 30).any_within());
        assert!(!report(&facts_with(31, None), 30).any_within());
    }

    #[test]
    fn the_ca_is_a_row_of_its_own() {
        let mut f = facts_with(400, None);
        f.ca = Some(crate::domain::facts::CaFacts {
            cert_path: "/state/ca/ca.crt".into(),
            key_path: "/state/ca/ca.key".into(),
            fingerprint: String::new(),
            not_after: NOW + 5 * DAY,
            subject: "CN=es-secure CA".into(),
            cert_pem: String::new(),
        });
        let r = report(&f, 7);
        let ca = r.rows.iter().find(|r| r.kind == Kind::Ca).unwrap();
        assert!(ca.within);
        assert_eq!(ca.file, PathBuf::from("/state/ca/ca.crt"));
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
    }
}
