//! IMAP polling of an existing mailbox (Gmail/Exchange style), with IDLE where offered. Each
//! unseen message is stored raw, processed, and only then flagged \Seen; a message that keeps
//! failing is quarantined (and flagged) so it never blocks the rest of the mailbox.

use super::{receive, store};
use crate::app::AppState;
use crate::config::Config;
use crate::db::lock::{IMAP_POLLER, SessionLock};
use crate::error::{AppError, AppResult};
use futures_util::TryStreamExt;
use sqlx::Row;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Polls until aborted. After an error it reconnects in a second, doubling the pause up to the
/// poll interval while errors repeat, so one glitch does not hold the mail back for a minute.
/// With several nodes only the one holding the mailbox's lock polls (another takes over when
/// that node dies); a lapse of the lock is noticed between IMAP sessions, and a message fetched
/// twice meanwhile is still stored once (by its UID key).
pub async fn run_poller(state: AppState) {
    let url = state.config.database_url();
    let longest = Duration::from_secs(state.config.imap_poll_secs.clamp(1, 60));
    let mut pause = Duration::from_secs(1);
    loop {
        let mut lock = SessionLock::take(&state.db, &url, IMAP_POLLER).await;
        while lock.still_held().await {
            let started = tokio::time::Instant::now();
            if let Err(e) = connect_and_poll(&state, false).await {
                // The cause (timeout, refused login, …) is in the Debug form of an internal error.
                tracing::warn!(error = ?e, "imap polling failed; reconnecting");
                // Shown by GET /api/system/status on every node.
                let text = crate::system::error_text(&e);
                if let Err(e) = crate::system::record_error(
                    &state.db,
                    crate::system::IMAP,
                    &state.node_id,
                    &text,
                )
                .await
                {
                    tracing::warn!(error = %e, "recording the imap poller's error failed");
                }
            }
            // A session that ran for a while before failing starts the back-off afresh.
            if started.elapsed() > longest {
                pause = Duration::from_secs(1);
            }
            tokio::time::sleep(pause.min(longest)).await;
            pause = (pause * 2).min(longest);
        }
    }
}

/// One pass over the mailbox (used by tests and by `run_poller` with `forever = false`
/// running IDLE/poll cycles until the connection drops). Returns how many messages were taken.
pub async fn poll_once(state: &AppState) -> AppResult<usize> {
    connect_and_poll(state, true).await
}

/// `fut`, or an error naming `what` when it took longer than `limit`: a server that accepts and
/// never answers (or stops answering mid-session) must not hold the poller forever.
async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = T>,
) -> AppResult<T> {
    tokio::time::timeout(limit, fut).await.map_err(|_| {
        AppError::internal(anyhow::anyhow!(
            "imap {what}: no answer within {} s",
            limit.as_secs_f32()
        ))
    })
}

/// The limit of the IMAP connect and of each command (`HOTLINE_IMAP_TIMEOUT_SECS`).
fn command_limit(c: &Config) -> Duration {
    Duration::from_secs(c.imap_timeout_secs.max(1))
}

fn imap_err(e: async_imap::error::Error) -> AppError {
    AppError::internal(anyhow::anyhow!("imap: {e}"))
}

/// The connection to the IMAP server, with TLS or without.
trait Io: AsyncRead + AsyncWrite + Unpin + Debug + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Debug + Send> Io for T {}

/// Connects (with TLS when `imap_tls`), reads the greeting and signs in.
async fn sign_in(c: &Config) -> AppResult<async_imap::Session<Box<dyn Io>>> {
    let limit = command_limit(c);
    let tcp = within(
        limit,
        "connect",
        TcpStream::connect((c.imap_host.as_str(), c.imap_port)),
    )
    .await?
    .map_err(|e| AppError::internal(anyhow::anyhow!("imap connect: {e}")))?;
    let stream: Box<dyn Io> = if c.imap_tls {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(AppError::internal)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(c.imap_host.clone())
            .map_err(AppError::internal)?;
        let tls = within(
            limit,
            "tls",
            tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
        )
        .await?
        .map_err(|e| AppError::internal(anyhow::anyhow!("imap tls: {e}")))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let mut client = async_imap::Client::new(stream);
    within(limit, "greeting", client.read_response())
        .await?
        .map_err(|e| AppError::internal(anyhow::anyhow!("imap greeting: {e}")))?;
    within(
        limit,
        "login",
        client.login(&c.imap_user, c.imap_password.expose()),
    )
    .await?
    .map_err(|(e, _)| imap_err(e))
}

/// Signs in and opens the folder, as the poller would, and returns how many messages it
/// holds (`hotline doctor`).
pub async fn check(c: &Config) -> AppResult<u32> {
    let limit = command_limit(c);
    let mut session = sign_in(c).await?;
    let mailbox = within(limit, "select", session.select(&c.imap_folder))
        .await?
        .map_err(imap_err)?;
    let _ = within(limit, "logout", session.logout()).await;
    Ok(mailbox.exists)
}

async fn connect_and_poll(state: &AppState, once: bool) -> AppResult<usize> {
    let c = &state.config;
    let limit = command_limit(c);
    let mut session = sign_in(c).await?;
    let idle = within(limit, "capability", session.capabilities())
        .await?
        .map_err(imap_err)?
        .has_str("IDLE");
    let mut total = 0;
    loop {
        let mailbox = within(limit, "select", session.select(&c.imap_folder))
            .await?
            .map_err(imap_err)?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        let mut uids: Vec<u32> = within(limit, "search", session.uid_search("UNSEEN"))
            .await?
            .map_err(imap_err)?
            .into_iter()
            .collect();
        uids.sort_unstable();
        for uid in uids {
            total += take_message(state, &mut session, validity, uid).await?;
        }
        // A pass over the mailbox went through (GET /api/system/status).
        if let Err(e) =
            crate::system::record_ok(&state.db, crate::system::IMAP, &state.node_id).await
        {
            tracing::warn!(error = %e, "recording the imap poller's pass failed");
        }
        if once {
            let _ = within(limit, "logout", session.logout()).await;
            return Ok(total);
        }
        let wait = Duration::from_secs(c.imap_poll_secs.max(1));
        if idle {
            let mut handle = session.idle();
            within(limit, "idle", handle.init())
                .await?
                .map_err(imap_err)?;
            // IDLE waits up to the poll interval for news (its own, longer wait); a connection
            // that went silent meanwhile is given up after that plus the command limit.
            let (fut, _stop) = handle.wait_with_timeout(wait);
            within(wait + limit, "idle wait", fut)
                .await?
                .map_err(imap_err)?;
            session = within(limit, "done", handle.done())
                .await?
                .map_err(imap_err)?;
        } else {
            tokio::time::sleep(wait).await;
            within(limit, "noop", session.noop())
                .await?
                .map_err(imap_err)?;
        }
    }
}

/// Fetches, stores and processes one message; flags it \Seen once its ticket is committed (or
/// it was quarantined). Returns 1 when the message was settled.
async fn take_message<T>(
    state: &AppState,
    session: &mut async_imap::Session<T>,
    validity: u32,
    uid: u32,
) -> AppResult<usize>
where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    let limit = command_limit(&state.config);
    let key = format!("imap:{}:{validity}:{uid}", state.config.imap_folder);
    let id = match find_by_key(state, &key).await? {
        Some(id) => id,
        None => {
            let raw = {
                let fetches: Vec<_> = within(limit, "fetch", async {
                    session
                        .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                        .await?
                        .try_collect()
                        .await
                })
                .await?
                .map_err(imap_err)?;
                fetches
                    .iter()
                    .find_map(|f| f.body().map(<[u8]>::to_vec))
                    .unwrap_or_default()
            };
            if raw.is_empty() {
                return Ok(0);
            }
            state
                .mail_store
                .store(store::NewRaw {
                    source: "imap",
                    raw,
                    envelope_from: String::new(),
                    envelope_to: key.clone(),
                })
                .await?
        }
    };
    if let Err(e) = receive::process(state, id).await {
        tracing::warn!(uid, error = %e, "imap message processing failed");
    }
    let status = store::find_inbound(&state.db, id).await?.status;
    if status == "received" {
        // Not committed yet: leave it unseen; the next pass tries again.
        return Ok(0);
    }
    let _: Vec<_> = within(limit, "store", async {
        session
            .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
            .await?
            .try_collect()
            .await
    })
    .await?
    .map_err(imap_err)?;
    Ok(1)
}

async fn find_by_key(state: &AppState, key: &str) -> AppResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT id FROM inbound_mail WHERE source = 'imap' AND envelope_to = $1 ORDER BY id LIMIT 1",
    )
    .bind(key)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}
