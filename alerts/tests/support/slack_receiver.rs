//! A stand-in for Slack's incoming webhooks: a real HTTP/1.1 server on 127.0.0.1 that records
//! every request body, answers what the test scripted (`429` with `Retry-After`, `500`, a refusal,
//! or a connection dropped after the request was read), and can go away and come back on the same
//! port.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `200 ok`, what Slack answers a posted message.
    Ok,
    /// `429 rate_limited` with `Retry-After: secs`.
    RateLimited(u64),
    /// Any status with Slack's error code as the body (`500 rollup_error`, `404 no_service`).
    Status(u16, &'static str),
    /// Read the whole request, then close the connection without answering.
    Drop,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub content_type: String,
    pub body: String,
    pub reply: Reply,
}

#[derive(Default)]
struct State {
    /// Replies for the next requests to a path; `Reply::Ok` once a script is used up.
    scripts: HashMap<String, VecDeque<Reply>>,
    /// Replies to every request to a path, after its script.
    always: HashMap<String, Reply>,
    requests: Vec<Request>,
}

pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: Option<JoinHandle<()>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let mut r = Receiver {
            addr,
            state: Arc::default(),
            task: None,
        };
        r.serve(listener);
        r
    }

    /// The webhook URL of `path` (`/services/T0/B0/token`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next requests to `path` get these replies, in order.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut s = self.state.lock().unwrap();
        s.scripts
            .entry(path.to_string())
            .or_default()
            .extend(replies);
    }

    /// Every request to `path` gets this reply (after its script), until [`Receiver::heal`].
    pub fn always(&self, path: &str, reply: Reply) {
        self.state
            .lock()
            .unwrap()
            .always
            .insert(path.to_string(), reply);
    }

    /// Back to answering `200 ok` everywhere.
    pub fn heal(&self) {
        let mut s = self.state.lock().unwrap();
        s.scripts.clear();
        s.always.clear();
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Requests answered `200 ok`: the messages that reached the channel.
    pub fn posted(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.reply == Reply::Ok)
            .collect()
    }

    pub fn posted_to(&self, path: &str) -> Vec<Request> {
        self.posted()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Go away: the port refuses connections until [`Receiver::restart`].
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Come back on the same port, keeping what was recorded.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("bind the same port");
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let state = self.state.clone();
        // One connection at a time, inside this task: aborting it closes everything.
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                handle(stream, &state).await;
            }
        }));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn handle(mut stream: TcpStream, state: &Mutex<State>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_string();
    let mut length = 0usize;
    let mut content_type = String::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "content-type" => content_type = value.trim().to_string(),
                _ => {}
            }
        }
    }
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
    let reply = {
        let mut s = state.lock().unwrap();
        let scripted = s.scripts.get_mut(&path).and_then(VecDeque::pop_front);
        let reply = scripted
            .or_else(|| s.always.get(&path).cloned())
            .unwrap_or(Reply::Ok);
        s.requests.push(Request {
            path,
            content_type,
            body,
            reply: reply.clone(),
        });
        reply
    };
    let (status, extra, text) = match reply {
        Reply::Ok => ("200 OK".to_string(), String::new(), "ok"),
        Reply::RateLimited(secs) => (
            "429 Too Many Requests".to_string(),
            format!("Retry-After: {secs}\r\n"),
            "rate_limited",
        ),
        Reply::Status(code, text) => (format!("{code} Status"), String::new(), text),
        Reply::Drop => return, // closes the connection without a word
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{extra}\
         Connection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
