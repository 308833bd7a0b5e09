//! A real SMTP server for the email tests: aiosmtpd (PyPI, installed by scripts/setup.sh) writing
//! every accepted message to a Maildir, optionally requiring AUTH; and a MIME parse of the
//! delivered messages by Python's `email` package, returned as JSON.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde::Deserialize;

/// Accept mail on 127.0.0.1:PORT into MAILDIR; with USER and PASSWORD, require AUTH (PLAIN or
/// LOGIN) without TLS. Prints `ready` once it listens, stops when stdin closes.
const SERVER: &str = r#"
import sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

host, port, maildir, user, password = sys.argv[1:6]

def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == user
          and auth_data.password.decode() == password)
    return AuthResult(success=ok, handled=False)

kwargs = {}
if user:
    kwargs = dict(authenticator=authenticate, auth_required=True, auth_require_tls=False)
controller = Controller(Mailbox(maildir), hostname=host, port=int(port), **kwargs)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"#;

/// Every message of MAILDIR/new, parsed: headers, MIME structure, the text and HTML bodies, inline
/// images (hex) and attachments.
const PARSE: &str = r#"
import email, json, os, sys
from email import policy

def structure(part):
    if part.is_multipart():
        return part.get_content_type() + "[" + ",".join(structure(p) for p in part.iter_parts()) + "]"
    return part.get_content_type()

new = os.path.join(sys.argv[1], "new")
out = []
for name in sorted(os.listdir(new)):
    with open(os.path.join(new, name), "rb") as f:
        msg = email.message_from_binary_file(f, policy=policy.default)
    m = {"subject": str(msg["subject"]), "message_id": str(msg["message-id"]),
         "to": str(msg["to"]), "from": str(msg["from"]), "structure": structure(msg),
         "text": "", "html": "", "images": [], "attachments": []}
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if part.get_content_disposition() == "attachment":
            m["attachments"].append({"filename": part.get_filename(), "content_type": ctype,
                                     "text": part.get_content()})
        elif ctype == "text/plain":
            m["text"] = part.get_content()
        elif ctype == "text/html":
            m["html"] = part.get_content()
        elif ctype.startswith("image/"):
            m["images"].append({"content_id": str(part["content-id"]), "content_type": ctype,
                                "hex": part.get_payload(decode=True).hex()})
    out.append(m)
json.dump(out, sys.stdout)
"#;

#[derive(Debug, Clone, Deserialize)]
pub struct Image {
    pub content_id: String,
    pub content_type: String,
    pub hex: String,
}

impl Image {
    pub fn bytes(&self) -> Vec<u8> {
        (0..self.hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&self.hex[i..i + 2], 16).expect("hex"))
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Attached {
    pub filename: String,
    pub content_type: String,
    pub text: String,
}

/// One delivered message, as a mail client sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct Delivered {
    pub subject: String,
    pub message_id: String,
    pub to: String,
    pub from: String,
    /// `multipart/mixed[multipart/alternative[text/plain,…]]`.
    pub structure: String,
    pub text: String,
    pub html: String,
    pub images: Vec<Image>,
    pub attachments: Vec<Attached>,
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .unwrap()
        .port()
}

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

fn require_aiosmtpd() {
    let found = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "the email tests need aiosmtpd (a real SMTP server): run scripts/setup.sh"
    );
}

impl SmtpServer {
    /// A server on a free port with a fresh Maildir; `auth`: required user and password.
    pub fn start(auth: Option<(&str, &str)>) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        let mut server = SmtpServer::start_on(free_port(), &maildir, auth);
        server._dir = Some(dir);
        server
    }

    /// A server on `port` delivering into `maildir` (created when missing).
    pub fn start_on(port: u16, maildir: &Path, auth: Option<(&str, &str)>) -> SmtpServer {
        require_aiosmtpd();
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let (user, password) = auth.unwrap_or(("", ""));
        let mut child = Command::new("python3")
            .args(["-c", SERVER, "127.0.0.1", &port.to_string()])
            .arg(maildir)
            .args([user, password])
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        SmtpServer {
            child,
            port,
            maildir: maildir.to_path_buf(),
            _dir: None,
        }
    }

    /// Every message delivered so far, oldest file name first.
    pub fn messages(&self) -> Vec<Delivered> {
        let out = Command::new("python3")
            .args(["-c", PARSE])
            .arg(&self.maildir)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("parsed messages")
    }

    pub fn stop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
