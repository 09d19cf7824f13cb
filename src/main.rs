//! The `hotline` command: serve, migrate, manage users, back up, benchmark.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use hotline::app::{App, shutdown_signal};
use hotline::config::Config;
use std::path::PathBuf;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Hotline — call-center and omnichannel service desk.
///
/// Settings come from defaults, then the optional TOML file (`--config`, default `hotline.toml`),
/// then environment variables (listed below).
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
    /// Check the configuration before a start: settings, ports, database and migrations, SMTP
    /// relay, IMAP mailbox, Twilio and CTI; says what to fix and exits 1 when something must be.
    Doctor,
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
    /// Report rollups.
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// Import customers (with their phones, emails and cards) or orders from a CSV file
    /// (UTF-8, GB18030, …); an unfinished import of the same file resumes where it stopped.
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// Rebuild the report rollups from the raw tables (work, presence, surveys, complaints,
    /// KB insertions); the routing leader's follower goes on from the end of the events log.
    Rebuild,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Customers: name, external_id, phone, email, id_card, vip_card, crm, language, title,
    /// notes, tags (or 姓名, 外部编号, 手机, 邮箱, …).
    Customers(ImportArgs),
    /// Orders: external_id, customer_external_id (or phone, email), ordered_at, amount,
    /// currency, product, category, channel, status (or 订单号, 客户编号, 下单时间, 金额, 币种, …).
    Orders(ImportArgs),
}

#[derive(clap::Args)]
struct ImportArgs {
    file: PathBuf,
    /// Only report what would be created, updated or refused.
    #[arg(long)]
    dry_run: bool,
    /// auto, utf-8, gb18030 (or another WHATWG label).
    #[arg(long, default_value = "auto")]
    encoding: String,
    /// column=field, repeatable (`column=` ignores a column).
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    map: Vec<String>,
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
        /// PBX extension (unique among users).
        #[arg(long)]
        extension: Option<String>,
        /// Phone number (unique among users; stored with its E.164 form).
        #[arg(long)]
        phone: Option<String>,
    },
}

fn init_logging(config: &Config) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colour codes only for a terminal: a log file or journal gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    if config.log_format == "json" {
        builder
            .json()
            .finish()
            .with(hotline::logcount::Counter)
            .init();
    } else {
        builder.finish().with(hotline::logcount::Counter).init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::from_arg_matches(
        &Cli::command()
            .after_help(hotline::config::settings_help())
            .get_matches(),
    )?;
    let config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    match cli.command {
        Command::Serve => {
            let config_public_url = config.public_url.trim_end_matches('/').to_string();
            let listener = tokio::net::TcpListener::bind(&config.listen).await?;
            let app = App::build(config, listener).await?;
            let addr = app.local_addr()?;
            tracing::info!(addr = %addr, "hotline listening");
            let base = if config_public_url.is_empty() {
                format!("http://{addr}")
            } else {
                config_public_url
            };
            println!(
                "Hotline is running.\n  Agent console:   {base}/\n  Wallboard:       {base}/wallboard.html\n  Customer portal: {base}/portal.html"
            );
            app.serve_with_shutdown(shutdown_signal()).await?;
        }
        Command::Doctor => {
            let findings = hotline::doctor::run(&config).await;
            for f in &findings {
                println!("{f}");
            }
            let fails = findings
                .iter()
                .filter(|f| f.level == hotline::doctor::Level::Fail)
                .count();
            if fails > 0 {
                println!("{fails} problem(s) to fix before starting Hotline");
                std::process::exit(1);
            }
            println!("ready to start");
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
            phone,
        }) => {
            let db = hotline::db::Db::connect(&config.database_url(), 2).await?;
            db.migrate().await?;
            let role = hotline::auth::Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("role must be agent, supervisor or admin"))?;
            let err = |e: hotline::error::AppError| anyhow::anyhow!("{e}");
            let display_name = name.unwrap_or_else(|| login.clone());
            hotline::auth::check_password(&password, &[&login, &display_name]).map_err(err)?;
            let extension = extension
                .as_deref()
                .map(hotline::auth::normalize_extension)
                .transpose()
                .map_err(err)?
                .flatten();
            let phones =
                hotline::customers::identity::PhoneNormalizer::new(&config.default_region)?;
            let (phone, phone_norm) = phone
                .as_deref()
                .map(|p| hotline::auth::normalize_phone(&phones, p))
                .transpose()
                .map_err(err)?
                .flatten()
                .unzip();
            hotline::auth::store::check_unique_contacts(
                &db,
                None,
                extension.as_deref(),
                phone_norm.as_deref(),
            )
            .await
            .map_err(err)?;
            let user = hotline::auth::store::insert_user(
                &db,
                &hotline::auth::store::NewUser {
                    display_name,
                    login,
                    role,
                    password_hash: hotline::auth::hash_password(&password)?,
                    extension,
                    phone,
                    phone_norm,
                    email: None,
                    skills: vec![],
                    languages: vec![],
                    locale: "en".into(),
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            if user.role != hotline::auth::Role::Admin {
                hotline::routing::store::join_default_queue(&db, user.id)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
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
        Command::Import(cmd) => {
            let (kind, a) = match &cmd {
                ImportCommand::Customers(a) => (hotline::import::Kind::Customers, a),
                ImportCommand::Orders(a) => (hotline::import::Kind::Orders, a),
            };
            hotline::import::cli::command(
                &config,
                hotline::import::cli::Args {
                    kind,
                    file: &a.file,
                    dry_run: a.dry_run,
                    encoding: &a.encoding,
                    map: &a.map,
                },
            )
            .await?
        }
        Command::Simulate(args) => hotline::simulate::run_with_config(args, &config).await?,
        Command::Reports(ReportsCommand::Rebuild) => {
            let db = hotline::db::Db::connect(&config.database_url(), 3).await?;
            db.migrate().await?;
            let _checkpoints = db.spawn_checkpoints();
            let tickets = hotline::reports::store::rebuild(&db)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("report rollups rebuilt ({tickets} tickets)");
        }
    }
    Ok(())
}
