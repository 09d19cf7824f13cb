//! `hotline bench …`: seeding large data sets and measuring against real engines and the real
//! server. Prints medians and percentiles; BENCHMARKS.md records the figures and commands.

pub mod email;
pub mod kb;
pub mod lookup;
pub mod reports;
pub mod sms;
pub mod value;
pub mod voice;
pub mod ws;

use crate::config::Config;
use clap::Subcommand;
use std::time::Duration;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Seed customers (each with a phone identity and a ticket) and interactions into an empty
    /// database, in chunks with a progress bar.
    Seed {
        #[arg(long, default_value_t = 1_000_000)]
        customers: i64,
        #[arg(long, default_value_t = 10_000_000)]
        interactions: i64,
    },
    /// The 360 lookup by phone number on seeded data: our store vs the raw engine, same run.
    Lookup {
        #[arg(long, default_value_t = 20_000)]
        samples: usize,
    },
    /// Knowledge-base search: index generated zh/en articles into a temporary folder, then
    /// time 1–3-word queries per language (median, p99) and report the indexing rate.
    Kb {
        #[arg(long, default_value_t = 100_000)]
        articles: usize,
        #[arg(long, default_value_t = 5_000)]
        queries: usize,
    },
    /// Knowledge-base relevance: the question set run against the articles of a folder
    /// (indexed in memory), top-1, top-3 and MRR per language and kind of question.
    KbRelevance {
        #[arg(long, default_value = "knowledge-base")]
        kb: std::path::PathBuf,
        #[arg(long, default_value = "tests/fixtures/kb-relevance-set.tsv")]
        set: std::path::PathBuf,
        /// List the questions whose answer was not in the top 3.
        #[arg(long)]
        misses: bool,
        /// Index the articles without their similar questions (what they bring).
        #[arg(long)]
        without_questions: bool,
    },
    /// Signed Twilio SMS webhooks into tickets against the real server: throughput, none lost.
    Sms {
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Distinct sender numbers (messages from one number thread into one ticket).
        #[arg(long, default_value_t = 5_000)]
        senders: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// CTI newCall webhooks at a steady rate with agents ringing, over seeded data: time until
    /// the screen pop is committed.
    Voice {
        #[arg(long, default_value_t = 3_000)]
        calls: usize,
        #[arg(long, default_value_t = 100)]
        rate: u32,
        #[arg(long, default_value_t = 50)]
        agents: usize,
    },
    /// Websocket fan-out: N consoles on a fresh server (child process), tickets at a fixed
    /// rate; latency median/p99 and server RSS per connection.
    Ws {
        #[arg(long, default_value_t = 2_000)]
        consoles: usize,
        /// Events (tickets created) per second.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Database of the server under test; empty: a fresh SQLite file.
        #[arg(long, default_value = "")]
        database_url: String,
    },
    /// The value ranking on seeded customers (`seed` first): seeds orders when there are none,
    /// then times the full ranking (first and rerun), one customer's tiering and the value
    /// report, and prints the process's peak memory.
    Value {
        #[arg(long, default_value_t = 10_000_000)]
        orders: i64,
        #[arg(long, default_value_t = 200)]
        samples: usize,
    },
    /// The reports over 30 days on a large center's rollups (seeded into an empty database):
    /// each report as the API computes it, by day and by 15 minutes, median and p99.
    Reports {
        #[arg(long, default_value_t = 20)]
        queues: i64,
        #[arg(long, default_value_t = 200)]
        agents: i64,
        #[arg(long, default_value_t = 400)]
        days: i64,
        #[arg(long, default_value_t = 50)]
        samples: usize,
    },
    /// Concurrent SMTP clients deliver a mixed corpus to the real server (in this process, on a
    /// fresh data folder) until every mail is a committed ticket interaction.
    Email {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
    },
}

pub async fn run(cmd: BenchCommand, config: &Config) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Seed {
            customers,
            interactions,
        } => lookup::seed(config, customers, interactions).await,
        BenchCommand::Lookup { samples } => lookup::run(config, samples).await,
        BenchCommand::Kb { articles, queries } => {
            tokio::task::spawn_blocking(move || kb::run(articles, queries)).await?
        }
        BenchCommand::KbRelevance {
            kb,
            set,
            misses,
            without_questions,
        } => {
            tokio::task::spawn_blocking(move || kb::relevance(&kb, &set, misses, without_questions))
                .await?
        }
        BenchCommand::Sms {
            messages,
            senders,
            concurrency,
        } => sms::run(config, messages, senders, concurrency).await,
        BenchCommand::Voice {
            calls,
            rate,
            agents,
        } => voice::run(config, calls, rate, agents).await,
        BenchCommand::Ws {
            consoles,
            rate,
            seconds,
            database_url,
        } => {
            ws::run(ws::Options {
                consoles,
                rate,
                seconds,
                database_url,
            })
            .await
        }
        BenchCommand::Email { clients, messages } => email::run(config, clients, messages).await,
        BenchCommand::Value { orders, samples } => value::run(config, orders, samples).await,
        BenchCommand::Reports {
            queues,
            agents,
            days,
            samples,
        } => reports::run(config, queues, agents, days, samples).await,
    }
}

/// Median, p99 and max of a set of durations, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub n: usize,
    pub median_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

pub fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        us(samples[i.min(samples.len() - 1)])
    };
    Summary {
        n: samples.len(),
        median_us: at(0.5),
        p99_us: at(0.99),
        max_us: samples.last().copied().map(us).unwrap_or_default(),
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={:>6}  median {:>8.1} µs  p99 {:>8.1} µs  max {:>9.1} µs",
            self.n, self.median_us, self.p99_us, self.max_us
        )
    }
}

pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>14} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_percentiles() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let s = summarize(&mut v);
        assert_eq!(s.median_us.round(), 51.0);
        assert_eq!(s.p99_us.round(), 99.0);
        assert_eq!(s.max_us.round(), 100.0);
    }
}
