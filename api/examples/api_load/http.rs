//! A plain HTTP/1.1 keep-alive client on tokio's `TcpStream`: GET with a bearer token,
//! Content-Length and chunked bodies. Enough for the bench; no HTTP client dependency.
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

type Conn = BufReader<TcpStream>;

async fn send(
    conn: &mut Conn,
    host: &str,
    token: &str,
    path: &str,
) -> std::io::Result<(Answer, bool)> {
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nAccept: */*\r\n\r\n"
    );
    conn.get_mut().write_all(head.as_bytes()).await?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        return Err(bad("connection closed before the status line"));
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&line))?;
    let (mut length, mut chunked, mut keep) = (None, false, true);
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').ok_or_else(|| bad(header))?;
        let (name, value) = (name.to_ascii_lowercase(), value.trim().to_ascii_lowercase());
        match name.as_str() {
            "content-length" => length = Some(value.parse::<usize>().map_err(|_| bad(header))?),
            "transfer-encoding" => chunked = value.contains("chunked"),
            "connection" => keep = value != "close",
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad("chunk size"))?;
            if size == 0 {
                loop {
                    line.clear();
                    if conn.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size + 2, 0);
            conn.read_exact(&mut body[start..]).await?;
            body.truncate(start + size);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        conn.read_exact(&mut body).await?;
    } else {
        conn.read_to_end(&mut body).await?;
        keep = false;
    }
    Ok((Answer { status, body }, keep))
}

/// Idle keep-alive connections, shared by the requests in flight.
#[derive(Clone)]
pub struct Client {
    addr: Arc<String>,
    token: Arc<String>,
    idle: Arc<Mutex<Vec<Conn>>>,
    /// Connections opened so far.
    pub opened: Arc<Mutex<usize>>,
}

impl Client {
    pub fn new(addr: &str, token: &str) -> Client {
        Client {
            addr: Arc::new(addr.into()),
            token: Arc::new(token.into()),
            idle: Arc::default(),
            opened: Arc::default(),
        }
    }

    async fn connect(&self) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(self.addr.as_str()).await?;
        stream.set_nodelay(true)?;
        *self.opened.lock().unwrap() += 1;
        Ok(BufReader::with_capacity(64 << 10, stream))
    }

    /// GET `path` on an idle connection, else a new one. A reused connection that fails before
    /// any answer (the server closed it while idle) is retried once on a new one.
    pub async fn get(&self, path: &str) -> std::io::Result<Answer> {
        let pooled = self.idle.lock().unwrap().pop();
        let (mut conn, reused) = match pooled {
            Some(c) => (c, true),
            None => (self.connect().await?, false),
        };
        let (answer, keep) = match send(&mut conn, &self.addr, &self.token, path).await {
            Ok(done) => done,
            Err(_) if reused => {
                conn = self.connect().await?;
                send(&mut conn, &self.addr, &self.token, path).await?
            }
            Err(e) => return Err(e),
        };
        if keep {
            self.idle.lock().unwrap().push(conn);
        }
        Ok(answer)
    }

    /// GET a JSON answer that must be 200.
    pub async fn json(&self, path: &str) -> serde_json::Value {
        let answer = self
            .get(path)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(
            answer.status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        serde_json::from_slice(&answer.body).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }
}
