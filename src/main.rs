//! The `hotline` command: serve, migrate, manage users, back up, benchmark.

use clap::{Parser, Subcommand};
use hotline::app::{App, shutdown_signal};
use hotline::config::Config;
use std::path::PathBuf;

/// Hotline — call-center and omnichannel service desk.
///
/// Settings come from defaults, then the optional TOML file (`--config`, default `hotline.toml`),
/// then environment variables:
///   HOTLINE_LISTEN (127.0.0.1:8080), HOTLINE_DATA_DIR (./data), DATABASE_URL (sqlite in the data
///   folder, or postgres://…), HOTLINE_ADMIN_PASSWORD (first admin; generated and printed once when
///   unset), HOTLINE_DEFAULT_REGION (CN), HOTLINE_PUBLIC_URL (http://{listen}),
///   HOTLINE_SMTP_LISTEN (127.0.0.1:2525), HOTLINE_SUPPORT_ADDRESSES (support@localhost),
///   HOTLINE_SMTP_MAX_SIZE (10485760), HOTLINE_SMTP_RELAY (smtp://user:pass@host:port),
///   HOTLINE_MAIL_FROM, HOTLINE_CTI_TOKEN, HOTLINE_TWILIO_ACCOUNT_SID, HOTLINE_TWILIO_AUTH_TOKEN,
///   HOTLINE_TWILIO_API_BASE, HOTLINE_DB_MAX_CONNECTIONS (16), HOTLINE_LOGIN_ATTEMPTS_PER_MINUTE
///   (10), HOTLINE_SESSION_HOURS (12), HOTLINE_LOG_FORMAT (text|json),
///   HOTLINE_PORTAL_FORM_MIN_AGE_MS (3000), HOTLINE_PORTAL_PER_MINUTE (5). RUST_LOG sets log levels.
///   Email: HOTLINE_SMTP_TLS_CERT/_KEY, HOTLINE_SMTP_LMTP, HOTLINE_ATTACHMENT_MAX_SIZE,
///   HOTLINE_MAIL_ACK, HOTLINE_MAIL_ACK_PER_HOUR, HOTLINE_OUTBOX_RETRY_MS,
///   HOTLINE_OUTBOX_MAX_ATTEMPTS, HOTLINE_IMAP_HOST/_PORT/_TLS/_USER/_PASSWORD/_FOLDER/_POLL_SECS.
#[derive(Parser)]
#[command(name = "hotline", version, verbatim_doc_comment)]
struct Cli {
    /// TOML settings file (keys as the variables above without the HOTLINE_ prefix, lower case).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (HTTP, websockets, channels) until Ctrl-C or SIGTERM.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Copy the live SQLite database consistently into FILE (PostgreSQL: use pg_dump).
    Backup { file: PathBuf },
    /// Seed demo agents, queues and customers on a running server, then generate live traffic
    /// (`--check`: also play agents and a supervisor and check the center's invariants).
    Simulate(hotline::simulate::SimulateArgs),
    /// Benchmarks against real databases and the real server.
    #[command(subcommand)]
    Bench(hotline::bench::BenchCommand),
    /// Knowledge base: import the articles folder, rebuild the search index.
    #[command(subcommand)]
    Kb(KbCommand),
}

#[derive(Subcommand)]
enum KbCommand {
    /// Import `<lang>/<category>/<slug>.md` files (default: the kb_dir setting) into the
    /// database; keeps articles edited in the console unless --overwrite.
    Import {
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        overwrite: bool,
    },
    /// Rebuild this node's search index from the articles table.
    Reindex,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Add {
        #[arg(long)]
        login: String,
        #[arg(long, default_value = "agent")]
        role: String,
        #[arg(long)]
        name: Option<String>,
        /// Password; read from HOTLINE_NEW_PASSWORD when omitted.
        #[arg(long, env = "HOTLINE_NEW_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long)]
        extension: Option<String>,
    },
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    match cli.command {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(&config.listen).await?;
            let app = App::build(config, listener).await?;
            tracing::info!(addr = %app.local_addr()?, "hotline listening");
            app.serve_with_shutdown(shutdown_signal()).await?;
        }
        Command::Migrate => {
            let db = hotline::db::Db::connect(&config.database_url(), 2).await?;
            db.migrate().await?;
            println!("migrations applied");
        }
        Command::User(UserCommand::Add {
            login,
            role,
            name,
            password,
            extension,
        }) => {
            let db = hotline::db::Db::connect(&config.database_url(), 2).await?;
            db.migrate().await?;
            let role = hotline::auth::Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("role must be agent, supervisor or admin"))?;
            let user = hotline::auth::store::insert_user(
                &db,
                &hotline::auth::store::NewUser {
                    display_name: name.unwrap_or_else(|| login.clone()),
                    login,
                    role,
                    password_hash: hotline::auth::hash_password(&password)?,
                    extension,
                    phone: None,
                    email: None,
                    skills: vec![],
                    languages: vec![],
                    locale: "en".into(),
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created user {} ({})", user.login, user.id);
        }
        Command::Backup { file } => {
            let db = hotline::db::Db::connect(&config.database_url(), 2).await?;
            hotline::db::backup(&db, &file).await?;
            println!("backup written to {}", file.display());
        }
        Command::Bench(cmd) => hotline::bench::run(cmd, &config).await?,
        Command::Kb(KbCommand::Import { dir, overwrite }) => {
            let dir = dir.unwrap_or_else(|| config.kb_dir.clone());
            hotline::knowledge::sync::import_command(&config, &dir, overwrite).await?;
        }
        Command::Kb(KbCommand::Reindex) => {
            hotline::knowledge::sync::reindex_command(&config).await?
        }
        Command::Simulate(args) => hotline::simulate::run_with_config(args, &config).await?,
    }
    Ok(())
}
