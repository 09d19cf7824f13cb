//! AppState and the server's life: build from config and listeners, run until a shutdown signal.
//! Tests bind port 0 and pass their own listener; `hotline serve` binds the configured address.

use crate::config::Config;
use crate::customers::identity::PhoneNormalizer;
use crate::db::Db;
use crate::http;
use crate::realtime::hub::{Hub, max_seq};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

/// Shared by every handler and background task. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub phones: PhoneNormalizer,
    /// Rate limits of sign-in, the portal and its acknowledgements (per node).
    pub limits: Arc<crate::limits::Limits>,
    pub metrics: PrometheusHandle,
    /// Fans the events log out to this node's websockets.
    pub hub: Arc<crate::realtime::hub::Hub>,
    /// True while this node is the routing leader.
    pub leader: Arc<std::sync::atomic::AtomicBool>,
    /// The knowledge-base search index (local to this node).
    pub kb: Arc<crate::knowledge::Kb>,
    /// The ticket search index (local to this node; follows the events log).
    pub tickets_index: Arc<crate::tickets::search::TicketIndex>,
    /// Group-commits raw inbound mail before the SMTP 250 / IMAP flag change.
    pub mail_store: crate::channels::email::receive::RawCommitter,
    /// Where the embedded SMTP receiver listens (None when disabled).
    pub smtp_addr: Option<SocketAddr>,
    /// This process's id among the nodes: the prefix of its consoles' ids.
    pub node_id: Arc<str>,
    /// The center's time zone: "today" on the wallboard, dates in the console.
    pub time_zone: jiff::tz::TimeZone,
    /// The clock of scheduled work (reminders, delayed surveys); tests move it forward.
    pub clock: crate::clock::Clock,
}

/// The process-wide Prometheus recorder (one per process, shared by test servers).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by a test harness): then ours
            // still renders the metrics registered through it, which is good enough.
            let _ = metrics::set_global_recorder(recorder);
            crate::logcount::register();
            handle
        })
        .clone()
}

pub struct App {
    pub state: AppState,
    listener: TcpListener,
    smtp_listener: Option<TcpListener>,
}

impl App {
    /// Connects and migrates the database, creates the first admin when there is none, and
    /// prepares the HTTP server on `listener`.
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<App> {
        crate::system::mark_started();
        std::fs::create_dir_all(&config.data_dir)?;
        let db = Db::connect_with(
            &config.database_url(),
            config.db_max_connections,
            config.db_write_queue,
        )
        .await?;
        db.migrate().await?;
        let phones = PhoneNormalizer::new(&config.default_region)?;
        // Users' phone numbers written before they had an E.164 key get one (migration 0012).
        crate::auth::store::backfill_phone_norm(&db, &phones).await?;
        crate::auth::routes::ensure_admin(&db, &config).await?;
        let kb = crate::knowledge::sync::open(
            &db,
            &config.data_dir.join("kb-index"),
            Some(&config.kb_dir),
        )
        .await?;
        let tickets_index =
            crate::tickets::search::open(&db, &config.data_dir.join("ticket-index")).await?;
        let zone = config.time_zone();
        let time_zone = jiff::tz::TimeZone::get(&zone).map_err(|e| {
            anyhow::anyhow!("HOTLINE_TIME_ZONE: {zone} is not a known time zone ({e})")
        })?;
        config
            .wallboard_frame_ancestors()
            .map_err(anyhow::Error::msg)?;
        let smtp_listener = if config.smtp_listen.is_empty() {
            None
        } else {
            Some(TcpListener::bind(&config.smtp_listen).await?)
        };
        let state = AppState {
            mail_store: crate::channels::email::receive::RawCommitter::start(db.clone()),
            smtp_addr: smtp_listener.as_ref().map(|l| l.local_addr()).transpose()?,
            phones,
            limits: Arc::new(crate::limits::Limits::new(&config)),
            metrics: metrics_handle(),
            hub: Arc::new(Hub::starting_after(max_seq(&db).await?)),
            leader: Arc::default(),
            node_id: format!("{:016x}", rand::random::<u64>()).into(),
            time_zone,
            clock: crate::clock::Clock::default(),
            kb,
            tickets_index,
            config: Arc::new(config),
            db,
        };
        Ok(App {
            state,
            listener,
            smtp_listener,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn serve_with_shutdown(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            state,
            listener,
            smtp_listener,
        } = self;
        let mut background = spawn_background(&state);
        background.extend(crate::channels::email::spawn(&state, smtp_listener)?);
        let router = http::router(state.clone());
        let hub = state.hub.clone();
        // Websockets are told to reconnect elsewhere before the server drains.
        let shutdown = async move {
            shutdown.await;
            hub.shutdown();
        };
        // TCP_NODELAY: small realtime frames must not wait for Nagle (cut fan-out latency ~3×).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        for task in &background {
            task.abort();
        }
        // A task can be in the middle of a blocking read; it must end before the runtime does
        // (a timer created while the runtime shuts down panics).
        for task in background {
            let _ = task.await;
        }
        state.db.pool.close().await;
        Ok(())
    }
}

/// Periodic maintenance: WAL checkpoints (so committing writers never stall on one).
fn spawn_background(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(crate::knowledge::sync::follow_changes(
        state.db.clone(),
        state.kb.clone(),
    )));
    tasks.push(tokio::spawn(crate::tickets::search::follow_changes(
        state.db.clone(),
        state.tickets_index.clone(),
    )));
    tasks.extend(state.db.spawn_checkpoints());
    tasks.push(crate::limits::spawn_sweeper(state.limits.clone()));
    tasks.push(crate::channels::sms::sender::spawn(state.clone()));
    // Retention: expired sessions and API tokens (at start, then hourly).
    tasks.push(crate::auth::spawn_token_purge(state.db.clone()));
    tasks.push(tokio::spawn(crate::channels::voice::offers::follow_offers(
        state.clone(),
    )));
    // Console imports left unfinished by a node that stopped resume here.
    tasks.push(tokio::spawn(crate::import::resume_unfinished(
        state.db.clone(),
        crate::import::routes::ctx(state),
        state.node_id.clone(),
    )));
    tasks.extend(spawn_realtime(state));
    tasks
}

/// The events hub, the LISTEN task (PostgreSQL), events pruning, the wallboard feed and the
/// routing leader.
fn spawn_realtime(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(state.hub.clone().run(state.db.clone()))];
    tasks.push(tokio::spawn(crate::realtime::listen_for_commits(
        state.db.backend,
        state.config.database_url(),
        state.hub.clone(),
    )));
    let (db, hours) = (state.db.clone(), state.config.events_retention_hours);
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = crate::realtime::hub::prune_events(&db, hours).await {
                tracing::warn!(error = %e, "events pruning failed");
            }
        }
    }));
    let (db, hub, tz) = (state.db.clone(), state.hub.clone(), state.time_zone.clone());
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if !hub.has_supervisors() {
                continue;
            }
            match crate::routing::stats::compute(&db, &tz).await {
                Ok(s) => hub.publish_stats(s),
                Err(e) => tracing::warn!(error = %e, "wallboard figures failed"),
            }
        }
    }));
    tasks.push(tokio::spawn(crate::routing::leader::run(state.clone())));
    let (db, node) = (state.db.clone(), state.node_id.clone());
    tasks.push(tokio::spawn(async move {
        // This node's consoles stay live while it runs (a dead node's expire).
        let mut tick = tokio::time::interval(crate::routing::presence::CONSOLE_HEARTBEAT);
        loop {
            tick.tick().await;
            if let Err(e) = crate::routing::presence::touch_consoles(&db, &node).await {
                tracing::warn!(error = %e, "console heartbeat failed");
            }
        }
    }));
    tasks
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
