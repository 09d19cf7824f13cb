//! The embedded SMTP (or LMTP) receiver: RFC 5321 with PIPELINING, 8BITMIME, SIZE, SMTPUTF8,
//! ENHANCEDSTATUSCODES and optional STARTTLS. Accepts mail for the support addresses only,
//! answers 250 only after the raw message is committed, then hands it to `receive`.

use super::{receive, store};
use crate::app::AppState;
use smtp_proto::{Error as ProtoError, Request};
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Longest command line (RFC 5321 says 512; real clients send longer ones with extensions).
const MAX_COMMAND_LINE: usize = 4096;
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

/// Accepts connections until the task is aborted; one task per session. Connections over the
/// caps (per client address, in all) get `421 4.7.0` at once, so that one client's stalled
/// connections never keep the others out.
pub async fn serve(listener: TcpListener, state: AppState, tls: Option<TlsAcceptor>) {
    let open = Arc::new(Connections::default());
    loop {
        let (mut socket, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "smtp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let slot = open.take(
            peer.ip(),
            state.config.smtp_max_per_client,
            state.config.smtp_max_connections,
        );
        let slot = match slot {
            Ok(slot) => slot,
            Err(why) => {
                metrics::counter!("hotline_smtp_refused_total").increment(1);
                tokio::spawn(async move {
                    let reply = format!("421 4.7.0 {why}, try again later\r\n");
                    let write = socket.write_all(reply.as_bytes());
                    let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
                });
                continue;
            }
        };
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = Session::new(state, tls).run(socket).await {
                tracing::debug!(%peer, error = %e, "smtp session ended");
            }
        });
    }
}

/// The open SMTP connections: in all and per client address.
#[derive(Default)]
struct Connections {
    counts: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One open connection's place in the counts, given back when dropped.
struct Slot {
    open: Arc<Connections>,
    ip: IpAddr,
}

impl Connections {
    fn take(
        self: &Arc<Self>,
        ip: IpAddr,
        per_client: usize,
        total: usize,
    ) -> Result<Slot, &'static str> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let (all, by_ip) = &mut *counts;
        if *all >= total {
            return Err("Too many connections");
        }
        let mine = by_ip.entry(ip).or_insert(0);
        if *mine >= per_client {
            return Err("Too many connections from your address");
        }
        *mine += 1;
        *all += 1;
        Ok(Slot {
            open: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.open.counts.lock().unwrap_or_else(|e| e.into_inner());
        let (all, by_ip) = &mut *counts;
        *all = all.saturating_sub(1);
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
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

/// What DATA brought.
enum Data {
    Message(Vec<u8>),
    /// Larger than the size limit (read to its end and dropped).
    TooBig,
    /// A time limit passed; the reason for the `421`.
    TimedOut(&'static str),
}

struct Session {
    state: AppState,
    tls: Option<TlsAcceptor>,
    /// The silence allowed between two reads (and for a write to drain).
    idle: Duration,
    /// When the whole session must end.
    session_end: Instant,
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
            idle: Duration::from_secs(state.config.smtp_idle_secs.max(1)),
            session_end: Instant::now() + Duration::from_secs(state.config.smtp_session_secs),
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

    /// Writes queued replies once the client's pipelined commands are all read. A client that
    /// reads nothing for the idle time is dropped.
    async fn flush<S: AsyncWrite + Unpin>(&mut self, w: &mut S) -> io::Result<()> {
        if !self.out.is_empty() {
            let write = async {
                w.write_all(&self.out).await?;
                w.flush().await
            };
            match tokio::time::timeout(self.idle, write).await {
                Ok(done) => done?,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "client reads nothing",
                    ));
                }
            }
            self.out.clear();
        }
        Ok(())
    }

    /// When the next read must have finished, and the `421` reason when it has not: the idle
    /// time from now, capped by the session's end and `also` (the end of DATA).
    fn read_deadline(&self, also: Option<Instant>) -> (Instant, &'static str) {
        let mut until = (Instant::now() + self.idle, "Idle too long");
        if self.session_end < until.0 {
            until = (self.session_end, "Session too long");
        }
        if let Some(data_end) = also
            && data_end < until.0
        {
            until = (data_end, "DATA too slow");
        }
        until
    }

    /// Answers `421 4.4.2` and ends the session.
    async fn close_timed_out<S: AsyncWrite + Unpin>(
        &mut self,
        w: &mut S,
        why: &str,
    ) -> io::Result<()> {
        metrics::counter!("hotline_smtp_timeouts_total").increment(1);
        self.reply(&format!("421 4.4.2 {why}, closing connection"));
        self.flush(w).await
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
            let (until, why) = self.read_deadline(None);
            let line = match tokio::time::timeout_at(until, read_line(&mut conn, MAX_COMMAND_LINE))
                .await
            {
                Ok(l) => l?,
                Err(_) => return self.close_timed_out(conn.get_mut(), why).await,
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
                    let (until, _) = self.read_deadline(None);
                    let tls = tokio::time::timeout_at(until, acceptor.accept(tcp))
                        .await
                        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake"))??;
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
                    let raw = match self.read_data(&mut conn).await? {
                        Data::Message(raw) => raw,
                        Data::TooBig => {
                            let msg = format!(
                                "552 5.3.4 Message size exceeds the limit of {} bytes",
                                self.max_size
                            );
                            self.per_recipient(&msg);
                            self.reset();
                            continue;
                        }
                        Data::TimedOut(why) => {
                            return self.close_timed_out(conn.get_mut(), why).await;
                        }
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
    /// to CRLF. `TooBig` when it grew past the size limit (the rest is read and dropped, so a
    /// client that lied in SIZE still gets its 552 in order); `TimedOut` when the client went
    /// silent, or trickled for longer than the DATA limit, or the session's time ran out.
    async fn read_data<R: AsyncBufRead + Unpin>(&mut self, r: &mut R) -> io::Result<Data> {
        let data_end = Instant::now() + Duration::from_secs(self.state.config.smtp_data_secs);
        let mut data = Vec::with_capacity(8192);
        let mut over = false;
        loop {
            // Lines longer than the whole size limit are cut off by the size check below; real
            // mail with very long lines (over 1000 octets) is accepted as Postfix does.
            let (until, why) = self.read_deadline(Some(data_end));
            let line = match tokio::time::timeout_at(until, read_line(r, self.max_size + 2)).await {
                Ok(l) => l?,
                Err(_) => return Ok(Data::TimedOut(why)),
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
                return Ok(if over {
                    Data::TooBig
                } else {
                    Data::Message(data)
                });
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
            Err(crate::error::AppError::Overloaded) => {
                tracing::warn!("inbound mail refused for now: the database writer is overloaded");
                self.per_recipient("451 4.3.2 System overloaded, try again later");
                return Ok(());
            }
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

/// Property tests for the receiver's input side: any command line gives a request or an error
/// (never a panic, in bounded time), and `read_line` splits any byte stream, however it arrives
/// in pieces, into lines no longer than the limit without losing or inventing a byte.
#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    use crate::testing::bounded;

    /// Parses one line as `Session::run` does, and renders what the session would look at.
    fn parse_line(line: Vec<u8>) -> String {
        bounded(
            format!("{:?}", String::from_utf8_lossy(&line)),
            move || match Request::parse(&mut line.iter()).map(Request::into_owned) {
                Ok(Request::Mail { from }) => {
                    format!("MAIL {} {}", from.address.to_ascii_lowercase(), from.size)
                }
                Ok(Request::Rcpt { to }) => format!("RCPT {}", to.address.to_ascii_lowercase()),
                Ok(other) => format!("{other:?}"),
                Err(e) => format!("error {e:?}"),
            },
        )
    }

    const VERBS: &[&str] = &[
        "MAIL FROM:",
        "RCPT TO:",
        "mail from:",
        "EHLO ",
        "HELO ",
        "LHLO ",
        "DATA",
        "BDAT ",
        "AUTH ",
        "VRFY ",
        "EXPN ",
        "NOOP",
        "RSET",
        "QUIT",
        "STARTTLS",
        "HELP ",
        "ETRN ",
        "BURL ",
        "ATRN",
        "XCLIENT ",
        "",
        " ",
    ];
    const PARAMS: &[&str] = &[
        " SIZE=",
        " SIZE=99999999999999999999999",
        " BODY=8BITMIME",
        " BODY=BINARYMIME",
        " SMTPUTF8",
        " RET=HDRS",
        " ENVID=",
        " NOTIFY=SUCCESS,FAILURE",
        " ORCPT=rfc822;",
        " AUTH=<>",
        " MT-PRIORITY=",
        " BY=",
        " HOLDFOR=",
        " REQUIRETLS",
        " =",
        " X=",
    ];

    /// Command lines: a verb, an address-ish argument, parameters, odd bytes, and a line end.
    fn command_line() -> impl Strategy<Value = Vec<u8>> {
        let arg = prop_oneof![
            "<[a-zA-Z0-9.+_@\\-\"\\\\ ]{0,40}>",
            "[<>@:\"\\\\ a-z0-9.=,;\\[\\]]{0,60}",
            "<\\PC{0,30}@\\PC{0,20}>",
            Just(String::new()),
        ];
        let params = proptest::collection::vec(
            (proptest::sample::select(PARAMS), "[ -~]{0,12}").prop_map(|(p, v)| format!("{p}{v}")),
            0..6,
        );
        let end = proptest::sample::select(vec!["\r\n", "\n", "\r", "", "\r\r\n", "\0\r\n"]);
        (proptest::sample::select(VERBS), arg, params, end)
            .prop_map(|(v, a, p, e)| format!("{v}{a}{}{e}", p.concat()).into_bytes())
    }

    fn any_line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => command_line(),
            1 => proptest::collection::vec(any::<u8>(), 0..600),
            1 => (proptest::sample::select(VERBS), proptest::collection::vec(any::<u8>(), 0..600))
                .prop_map(|(v, mut rest)| { let mut l = v.as_bytes().to_vec(); l.append(&mut rest); l }),
            1 => (0usize..MAX_COMMAND_LINE).prop_map(|n| {
                format!("MAIL FROM:<{}@example.com>\r\n", "a".repeat(n)).into_bytes()
            }),
        ]
    }

    /// Reads every line of `input` through a buffer of `cap` bytes (so lines arrive in pieces).
    fn read_all(input: Vec<u8>, cap: usize, limit: usize) -> Vec<Option<Vec<u8>>> {
        bounded(format!("cap {cap} limit {limit}"), move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut r = BufReader::with_capacity(cap, &input[..]);
                let mut lines = Vec::new();
                loop {
                    match read_line(&mut r, limit).await.expect("reading a slice") {
                        Line::Eof => return lines,
                        Line::TooLong => lines.push(None),
                        Line::Text(l) => lines.push(Some(l)),
                    }
                    assert!(lines.len() <= input.len(), "more lines than bytes");
                }
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        #[test]
        fn any_command_line_is_a_request_or_an_error(line in any_line()) {
            let _ = parse_line(line);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn read_line_keeps_every_byte_and_the_limit(
            input in prop_oneof![
                proptest::collection::vec(prop_oneof![4 => any::<u8>(), 1 => Just(b'\n'), 1 => Just(b'\r')], 0..4096),
                proptest::collection::vec(command_line(), 0..40).prop_map(|ls| ls.concat()),
            ],
            cap in 1usize..64,
            limit in 1usize..512,
        ) {
            let lines = read_all(input.clone(), cap, limit);
            let mut rebuilt = Vec::new();
            let mut dropped = false;
            let n = lines.len();
            for (i, l) in lines.into_iter().enumerate() {
                match l {
                    Some(l) => {
                        prop_assert!(!l.is_empty() && l.len() <= limit, "line of {} bytes", l.len());
                        prop_assert!(
                            l.ends_with(b"\n") || i + 1 == n,
                            "only the last line may lack its LF"
                        );
                        prop_assert!(!l[..l.len() - 1].contains(&b'\n'), "one line per LF");
                        rebuilt.extend_from_slice(&l);
                    }
                    None => dropped = true,
                }
            }
            if !dropped {
                prop_assert_eq!(rebuilt, input);
            } else {
                prop_assert!(rebuilt.len() < input.len());
            }
        }
    }
}
