//! A fake Elasticsearch REST endpoint on plain HTTP (127.0.0.1, a free port), for binary
//! tests that need an apply to *finish* (passwords, verification) without a JVM. It answers
//! like a secured node: anonymous requests get 401, any basic-auth credentials are accepted,
//! health is green, and `/_ssl/certificates` names es-secure's transport certificate. Every
//! request is recorded (method, path, user) so a test can assert what was, or was not, called.
//! It must NOT be mistaken for a check of Elasticsearch's behaviour: the real-ES tests do that.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// One request as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The basic-auth user, `None` for an anonymous request.
    pub user: Option<String>,
}

/// The running fake; it stops serving when the test process ends.
pub struct FakeEs {
    pub port: u16,
    log: Arc<Mutex<Vec<Request>>>,
}

impl FakeEs {
    pub fn start() -> Self {
        Self::serving(None, None)
    }

    /// A fake that answers `path` with a 500 (to make one step of a command fail).
    pub fn failing(path: &str) -> Self {
        Self::serving(None, Some(path.to_string()))
    }

    /// A fake whose `GET /_license` answers with this license type (status `active`), to
    /// anyone: like a node with security off, or a caller with credentials.
    pub fn with_license(kind: &str) -> Self {
        Self::serving(Some(kind.to_string()), None)
    }

    fn serving(license: Option<String>, failing: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&log);
        let license = Arc::new(license);
        let failing = Arc::new(failing);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                let license = Arc::clone(&license);
                let failing = Arc::clone(&failing);
                std::thread::spawn(move || {
                    serve(stream, &shared, license.as_deref(), failing.as_deref());
                });
            }
        });
        Self { port, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests so far, and forget them.
    pub fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn serve(
    stream: TcpStream,
    log: &Mutex<Vec<Request>>,
    license: Option<&str>,
    failing: Option<&str>,
) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    // One request per connection (the answer says `Connection: close`).
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let path = target.split('?').next().unwrap_or_default().to_string();
    let mut user = None;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((&header, ""));
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "authorization" => {
                let decoded = value
                    .strip_prefix("Basic ")
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                user = decoded.and_then(|d| d.split_once(':').map(|(u, _)| u.to_string()));
            }
            _ => {}
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    log.lock().unwrap().push(Request {
        method: method.clone(),
        path: path.clone(),
        user: user.clone(),
    });
    let (status, json) = match (&user, path.as_str()) {
        (Some(_), p) if Some(p) == failing => (
            "500 Internal Server Error",
            r#"{"error":{"type":"fake_failure","reason":"failing on purpose"},"status":500}"#
                .to_string(),
        ),
        (_, "/_license") if license.is_some() => (
            "200 OK",
            format!(
                r#"{{"license":{{"status":"active","uid":"00000000-0000-0000-0000-000000000000","type":"{}","issue_date_in_millis":0,"max_nodes":1000,"issued_to":"test","issuer":"elasticsearch","start_date_in_millis":-1}}}}"#,
                license.unwrap_or_default()
            ),
        ),
        (None, _) => (
            "401 Unauthorized",
            r#"{"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401}"#.to_string(),
        ),
        (Some(u), "/_security/_authenticate") => (
            "200 OK",
            format!(
                r#"{{"username":"{u}","roles":["superuser"],"authentication_realm":{{"name":"file"}}}}"#
            ),
        ),
        (Some(_), "/_cluster/health") => (
            "200 OK",
            r#"{"cluster_name":"prod-logs","status":"green","number_of_nodes":1,"timed_out":false,"unassigned_shards":0}"#.to_string(),
        ),
        (Some(_), "/_ssl/certificates") => (
            "200 OK",
            r#"[{"path":"certs/transport.crt","format":"PEM","subject_dn":"CN=node-1","serial_number":"01","has_private_key":true,"expiry":"2036-01-01T00:00:00.000Z"}]"#.to_string(),
        ),
        (Some(_), _) => ("200 OK", "{}".to_string()),
    };
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nWWW-Authenticate: Basic realm=\"security\"\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    let _ = stream.flush();
}
