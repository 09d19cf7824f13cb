//! The embedded SMTP (or LMTP) receiver: RFC 5321 with PIPELINING, 8BITMIME, SIZE, SMTPUTF8,
//! ENHANCEDSTATUSCODES and optional STARTTLS. Accepts mail for the support addresses only,
//! answers 250 only after the raw message is committed, then hands it to `receive`.

use super::{receive, store};
use crate::app::AppState;
use smtp_proto::{Error as ProtoError, Request};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Longest command line (RFC 5321 says 512; real clients send longer ones with extensions).
const MAX_COMMAND_LINE: usize = 4096;
/// How long a client may stay silent.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
const MAX_RECIPIENTS: usize = 100;

/// A connection before or after STARTTLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Loads the STARTTLS certificate and key named in the config, when both are set.
pub fn tls_acceptor(cert: &str, key: &str) -> anyhow::Result<Option<TlsAcceptor>> {
    if cert.is_empty() || key.is_empty() {
        return Ok(None);
    }
    let certs = rustls_pemfile::certs(&mut io::BufReader::new(std::fs::File::open(cert)?))
        .collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut io::BufReader::new(std::fs::File::open(key)?))?
        .ok_or_else(|| anyhow::anyhow!("no private key in {key}"))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// Accepts connections until the task is aborted; one task per session.
pub async fn serve(listener: TcpListener, state: AppState, tls: Option<TlsAcceptor>) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "smtp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(e) = Session::new(state, tls).run(socket).await {
                tracing::debug!(%peer, error = %e, "smtp session ended");
            }
        });
    }
}

/// One line read from the client.
enum Line {
    Text(Vec<u8>),
    /// Longer than allowed; the rest of it was discarded.
    TooLong,
    Eof,
}

/// Reads one line (LF-terminated, CR optional: bare-LF clients are served too) of at most
/// `limit` bytes; a longer one is consumed and discarded up to its end.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, limit: usize) -> io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if line.is_empty() && !too_long {
                Line::Eof
            } else if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
        let (chunk, done) = match memchr_lf(buf) {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if !too_long {
            if line.len() + n > limit {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        r.consume(n);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
    }
}

fn memchr_lf(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

struct Session {
    state: AppState,
    tls: Option<TlsAcceptor>,
    lmtp: bool,
    max_size: usize,
    support: Vec<String>,
    greeted: bool,
    secure: bool,
    from: Option<String>,
    rcpts: Vec<String>,
    out: Vec<u8>,
}

impl Session {
    fn new(state: AppState, tls: Option<TlsAcceptor>) -> Self {
        Session {
            lmtp: state.config.smtp_lmtp,
            max_size: state.config.smtp_max_size as usize,
            support: state.config.support_addresses(),
            state,
            tls,
            greeted: false,
            secure: false,
            from: None,
            rcpts: Vec::new(),
            out: Vec::new(),
        }
    }

    fn reply(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Writes queued replies once the client's pipelined commands are all read.
    async fn flush<S: AsyncWrite + Unpin>(&mut self, w: &mut S) -> io::Result<()> {
        if !self.out.is_empty() {
            w.write_all(&self.out).await?;
            w.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
    }

    async fn run(mut self, socket: TcpStream) -> io::Result<()> {
        let mut conn = BufReader::new(Stream::Plain(socket));
        let proto = if self.lmtp { "LMTP" } else { "ESMTP" };
        self.reply(&format!("220 {} Hotline {proto} ready", self.hostname()));
        self.flush(conn.get_mut()).await?;
        loop {
            if conn.buffer().is_empty() {
                self.flush(conn.get_mut()).await?;
            }
            let line =
                match tokio::time::timeout(IDLE_TIMEOUT, read_line(&mut conn, MAX_COMMAND_LINE))
                    .await
                {
                    Ok(l) => l?,
                    Err(_) => {
                        self.reply("421 4.4.2 Idle too long, closing connection");
                        self.flush(conn.get_mut()).await?;
                        return Ok(());
                    }
                };
            let line = match line {
                Line::Eof => return Ok(()),
                Line::TooLong => {
                    self.reply("500 5.5.2 Line too long");
                    continue;
                }
                Line::Text(l) => l,
            };
            let request = Request::parse(&mut line.iter()).map(Request::into_owned);
            match request {
                Ok(Request::Ehlo { host }) | Ok(Request::Helo { host }) if self.lmtp => {
                    let _ = host;
                    self.reply("500 5.5.1 This is an LMTP server: use LHLO");
                }
                Ok(Request::Lhlo { .. }) if !self.lmtp => {
                    self.reply("500 5.5.1 This is an SMTP server: use EHLO");
                }
                Ok(Request::Ehlo { .. }) | Ok(Request::Lhlo { .. }) => {
                    self.reset();
                    self.greeted = true;
                    let mut caps = vec![
                        format!("{} Hello", self.hostname()),
                        "PIPELINING".into(),
                        "8BITMIME".into(),
                        format!("SIZE {}", self.max_size),
                        "SMTPUTF8".into(),
                        "ENHANCEDSTATUSCODES".into(),
                    ];
                    if self.tls.is_some() && !self.secure {
                        caps.push("STARTTLS".into());
                    }
                    let last = caps.len() - 1;
                    for (i, c) in caps.iter().enumerate() {
                        let sep = if i == last { ' ' } else { '-' };
                        self.reply(&format!("250{sep}{c}"));
                    }
                }
                Ok(Request::Helo { .. }) => {
                    self.reset();
                    self.greeted = true;
                    let host = self.hostname();
                    self.reply(&format!("250 {host}"));
                }
                Ok(Request::StartTls) => {
                    let Some(acceptor) = self.tls.clone().filter(|_| !self.secure) else {
                        self.reply("502 5.5.1 STARTTLS not available");
                        continue;
                    };
                    self.reply("220 2.0.0 Ready to start TLS");
                    self.flush(conn.get_mut()).await?;
                    // Commands pipelined after STARTTLS would be injected in clear text: drop them.
                    let Stream::Plain(tcp) = conn.into_inner() else {
                        return Ok(());
                    };
                    let tls = acceptor.accept(tcp).await?;
                    conn = BufReader::new(Stream::Tls(Box::new(tls)));
                    self.secure = true;
                    self.greeted = false;
                    self.reset();
                }
                Ok(Request::Mail { from }) => {
                    if !self.greeted {
                        self.reply("503 5.5.1 Say EHLO first");
                    } else if self.from.is_some() {
                        self.reply("503 5.5.1 Nested MAIL command");
                    } else if from.size > self.max_size {
                        self.reply(&format!(
                            "552 5.3.4 Message size exceeds the limit of {} bytes",
                            self.max_size
                        ));
                    } else {
                        self.from = Some(from.address.to_ascii_lowercase());
                        self.reply("250 2.1.0 Sender OK");
                    }
                }
                Ok(Request::Rcpt { to }) => {
                    let addr = to.address.to_ascii_lowercase();
                    if self.from.is_none() {
                        self.reply("503 5.5.1 Need MAIL before RCPT");
                    } else if self.rcpts.len() >= MAX_RECIPIENTS {
                        self.reply("452 4.5.3 Too many recipients");
                    } else if self.support.contains(&addr) {
                        if !self.rcpts.contains(&addr) {
                            self.rcpts.push(addr);
                        }
                        self.reply("250 2.1.5 Recipient OK");
                    } else if self.is_our_domain(&addr) {
                        self.reply("550 5.1.1 No such mailbox here");
                    } else {
                        self.reply("550 5.7.1 Relaying denied: this server accepts mail for its support addresses only");
                    }
                }
                Ok(Request::Data) => {
                    if self.from.is_none() || self.rcpts.is_empty() {
                        self.reply("503 5.5.1 Need MAIL and RCPT before DATA");
                        continue;
                    }
                    self.reply("354 End data with <CR><LF>.<CR><LF>");
                    self.flush(conn.get_mut()).await?;
                    let Some(raw) = self.read_data(&mut conn).await? else {
                        let msg = format!(
                            "552 5.3.4 Message size exceeds the limit of {} bytes",
                            self.max_size
                        );
                        self.per_recipient(&msg);
                        self.reset();
                        continue;
                    };
                    self.accept(&raw, conn.get_mut()).await?;
                    self.reset();
                }
                Ok(Request::Rset) => {
                    self.reset();
                    self.reply("250 2.0.0 Reset");
                }
                Ok(Request::Noop { .. }) => self.reply("250 2.0.0 OK"),
                Ok(Request::Quit) => {
                    self.reply("221 2.0.0 Bye");
                    self.flush(conn.get_mut()).await?;
                    return Ok(());
                }
                Ok(Request::Vrfy { .. }) => {
                    self.reply("252 2.1.5 Cannot verify, but will accept the message")
                }
                Ok(Request::Help { .. }) => self.reply("214 2.0.0 See RFC 5321"),
                Ok(Request::Auth { .. }) => {
                    self.reply("502 5.5.1 AUTH is not needed: mail for the support addresses is accepted from anyone")
                }
                Ok(_) => self.reply("502 5.5.1 Command not implemented"),
                Err(ProtoError::UnknownCommand) => self.reply("500 5.5.1 Unknown command"),
                Err(ProtoError::InvalidSenderAddress) => {
                    self.reply("501 5.1.7 Bad sender address syntax")
                }
                Err(ProtoError::InvalidRecipientAddress) => {
                    self.reply("501 5.1.3 Bad recipient address syntax")
                }
                Err(ProtoError::UnsupportedParameter { param }) => {
                    self.reply(&format!("555 5.5.4 Unsupported parameter {param}"))
                }
                Err(e) => self.reply(&format!("501 5.5.4 Syntax error: {e:?}")),
            }
        }
    }

    fn hostname(&self) -> String {
        self.support
            .first()
            .and_then(|a| a.rsplit_once('@'))
            .map(|(_, d)| d.to_string())
            .unwrap_or_else(|| "localhost".into())
    }

    fn is_our_domain(&self, addr: &str) -> bool {
        let domain = addr.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        self.support
            .iter()
            .any(|a| a.rsplit_once('@').is_some_and(|(_, d)| d == domain))
    }

    /// One reply for SMTP; one per accepted recipient for LMTP.
    fn per_recipient(&mut self, text: &str) {
        let n = if self.lmtp {
            self.rcpts.len().max(1)
        } else {
            1
        };
        for _ in 0..n {
            self.reply(text);
        }
    }

    /// Reads the message up to the lone "." line, undoing dot-stuffing and normalizing line ends
    /// to CRLF. Returns `None` when it grew past the size limit (the rest is read and dropped,
    /// so a client that lied in SIZE still gets its 552 in order).
    async fn read_data<R: AsyncBufRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> io::Result<Option<Vec<u8>>> {
        let mut data = Vec::with_capacity(8192);
        let mut over = false;
        loop {
            // Lines longer than the whole size limit are cut off by the size check below; real
            // mail with very long lines (over 1000 octets) is accepted as Postfix does.
            let line = match tokio::time::timeout(IDLE_TIMEOUT, read_line(r, self.max_size + 2))
                .await
            {
                Ok(l) => l?,
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "DATA timed out")),
            };
            let mut line = match line {
                Line::Eof => {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in DATA"));
                }
                Line::TooLong => {
                    over = true;
                    continue;
                }
                Line::Text(l) => l,
            };
            while matches!(line.last(), Some(b'\n') | Some(b'\r')) {
                line.pop();
            }
            if line == b"." {
                return Ok(if over { None } else { Some(data) });
            }
            if over {
                continue;
            }
            let content = if line.first() == Some(&b'.') {
                &line[1..]
            } else {
                &line[..]
            };
            if data.len() + content.len() + 2 > self.max_size {
                over = true;
                data = Vec::new();
                continue;
            }
            data.extend_from_slice(content);
            data.extend_from_slice(b"\r\n");
        }
    }

    /// Commits the raw message, answers, then processes it into a ticket.
    async fn accept<W: AsyncWrite + Unpin>(&mut self, raw: &[u8], w: &mut W) -> io::Result<()> {
        let from = self.from.clone().unwrap_or_default();
        let to = self.rcpts.join(",");
        let stored = self
            .state
            .mail_store
            .store(store::NewRaw {
                source: "smtp",
                raw: raw.to_vec(),
                envelope_from: from,
                envelope_to: to,
            })
            .await;
        let id = match stored {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "storing inbound mail failed");
                self.per_recipient("451 4.3.0 Temporary storage failure, try again later");
                return Ok(());
            }
        };
        self.per_recipient(&format!("250 2.0.0 Ok: queued as {id}"));
        self.flush(w).await?;
        if let Err(e) = receive::process(&self.state, id).await {
            tracing::warn!(id, error = %e, "inbound mail processing failed; will retry");
        }
        Ok(())
    }
}
