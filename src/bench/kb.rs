//! `hotline bench kb`: generates articles (mixed Chinese and English) from service vocabulary
//! in memory, indexes them into a temporary folder, and measures the indexing rate and the
//! search latency of 1–3-word queries per language through `Kb::search`.

use super::{Summary, summarize};
use crate::knowledge::{Article, Audience, Kb, SearchQuery};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};

const EN: &str = "account password login reset locked phone number email verification code \
    refund payment card bank charge twice invoice receipt order delivery courier parcel package \
    tracking late delay address return exchange warranty repair service center screen battery \
    charger cable power turn restart update app crash error network wifi bluetooth pairing \
    earbuds headphones speaker router signal connection complaint supervisor escalation callback \
    holiday hours weekend festival privacy data delete export message subscription cancel \
    coupon discount points member vip upgrade price promotion stock shipping express pickup \
    damaged broken missing cracked wet replacement inspection warehouse customs overseas \
    laptop tablet watch strap camera photo storage memory backup cloud sync settings language \
    notification sound volume microphone video call display brightness keyboard mouse printer \
    install driver software license activation serial model color size fit quality defect \
    insurance claim deadline business days credit debit wallet balance transfer fee tax \
    company personal title identity check document upload photo review approval waiting";

const ZH: &str = "账号 密码 登录 重置 锁定 手机号 邮箱 验证码 退款 支付 银行卡 扣款 两次 发票 收据 订单 \
    快递 物流 包裹 配送 延误 地址 退货 换货 保修 维修 售后 服务中心 屏幕 电池 充电器 数据线 开机 \
    重启 更新 闪退 报错 网络 蓝牙 配对 耳机 音箱 路由器 信号 连接 投诉 主管 升级 回拨 节假日 \
    春节 国庆 营业时间 隐私 个人信息 注销 导出 短信 退订 取消 优惠券 折扣 积分 会员 价格 促销 \
    库存 发货 上门取件 破损 少件 碎了 进水 补发 验收 仓库 海关 笔记本 平板 手表 表带 相机 照片 \
    存储 内存 备份 云端 同步 设置 语言 通知 声音 音量 麦克风 视频 通话 显示 亮度 键盘 鼠标 \
    打印机 安装 驱动 软件 激活 序列号 型号 颜色 尺码 质量 故障 运费险 理赔 期限 工作日 信用卡 \
    借记卡 余额 转账 手续费 税号 公司 抬头 身份 核验 上传 审核 等待 客服 热线 人工 在线";

/// Homophone typos of the vocabulary's words (安装, 密码, 退款, 发票, 快递, 蓝牙, 保修, 订单),
/// each with how many other words follow it in the query (0 or 1).
const ZH_TYPOS: &[(&str, usize)] = &[
    ("按装", 0),
    ("密吗", 1),
    ("退宽", 0),
    ("发漂", 1),
    ("快地", 0),
    ("蓝呀", 1),
    ("包修", 0),
    ("定单", 1),
];

fn words(list: &str) -> Vec<&str> {
    list.split_whitespace().collect()
}

const TAIL_WORDS: usize = 20_000;
const EN_SYLLABLES: &[&str] = &[
    "ba", "ce", "di", "fo", "gu", "ka", "le", "mi", "no", "pu", "ra", "se", "ti", "vo", "zu", "an",
    "er", "in", "on", "ur",
];
const ZH_CHARS: &str = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其";

/// A language's vocabulary in Zipf rank order: a long tail of filler words (syllable or
/// character combinations) with the real service words spread over the ranks, so that query
/// words range from very common to rare, as in a real knowledge base.
fn vocabulary(real: &[&str], chinese: bool) -> Vec<String> {
    let units: Vec<String> = if chinese {
        ZH_CHARS.chars().map(String::from).collect()
    } else {
        EN_SYLLABLES.iter().map(|s| s.to_string()).collect()
    };
    // Filler word i spells i in base `units.len()`, at least three units long: English has
    // only 20 syllables (8,000 three-syllable words), so longer words make up the rest. With
    // too few filler words the later real words never made it into the vocabulary, so most
    // English query words matched nothing and took the typo (fuzzy) path.
    let filler: Vec<String> = (0..TAIL_WORDS)
        .map(|i| {
            let (mut n, mut word, mut len) = (i, String::new(), 0);
            while n > 0 || len < 3 {
                word.push_str(&units[n % units.len()]);
                n /= units.len();
                len += 1;
            }
            word
        })
        .collect();
    let step = TAIL_WORDS / real.len();
    let mut out = Vec::with_capacity(TAIL_WORDS + real.len());
    let mut real_words = real.iter();
    for (i, w) in filler.into_iter().enumerate() {
        if i % step == 5
            && let Some(r) = real_words.next()
        {
            out.push(r.to_string());
        }
        out.push(w);
    }
    out
}

/// A word drawn with a Zipf-like skew (rank r has weight 1/r), as in real text.
fn zipf<'a>(rng: &mut StdRng, vocab: &'a [String], cumulative: &[f64]) -> &'a str {
    let total = cumulative.last().copied().unwrap_or(1.0);
    let x = rng.random_range(0.0..total);
    let i = cumulative.partition_point(|c| *c <= x).min(vocab.len() - 1);
    &vocab[i]
}

fn generate(n: usize, rng: &mut StdRng) -> Vec<Article> {
    let (en, zh) = (vocabulary(&words(EN), false), vocabulary(&words(ZH), true));
    let cumulative = |v: &[String]| -> Vec<f64> {
        (1..=v.len())
            .scan(0.0, |acc, r| {
                *acc += 1.0 / r as f64;
                Some(*acc)
            })
            .collect()
    };
    let (en_c, zh_c) = (cumulative(&en), cumulative(&zh));
    (0..n)
        .map(|i| {
            let chinese = i % 2 == 0;
            let (vocab, c, sep) = if chinese {
                (&zh, &zh_c, "")
            } else {
                (&en, &en_c, " ")
            };
            let mut text = |count: usize| {
                (0..count)
                    .map(|_| zipf(rng, vocab, c))
                    .collect::<Vec<_>>()
                    .join(sep)
            };
            let title = text(6);
            // Two similar questions (相似问法) per article, as the console adds them.
            let questions = vec![text(8), text(8)];
            let body = (0..6)
                .map(|_| text(20))
                .collect::<Vec<_>>()
                .join(if chinese { "。" } else { ". " });
            Article {
                id: i as i64 + 1,
                slug: format!("bench-{i}"),
                lang: if chinese { "zh" } else { "en" }.into(),
                category: ["account", "billing", "delivery", "devices"][i % 4].into(),
                title,
                body,
                tags: vec![],
                questions,
                audience: if i % 5 == 0 {
                    Audience::Internal
                } else {
                    Audience::Public
                },
                translation_of: None,
                source_path: None,
                source_hash: None,
                edited_in_app: false,
                retired: false,
                version: 1,
                created_at: 0,
                updated_at: 0,
            }
        })
        .collect()
}

/// `count` queries of `n_terms` words drawn uniformly from `vocab` (common and rare alike).
fn random_queries(rng: &mut StdRng, vocab: &[&str], n_terms: usize, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            (0..n_terms)
                .map(|_| vocab[rng.random_range(0..vocab.len())])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn measure(
    kb: &Kb,
    queries: &[String],
    lang: Option<&str>,
    snippets: bool,
) -> anyhow::Result<Summary> {
    let mut samples: Vec<Duration> = Vec::with_capacity(queries.len());
    for q in queries {
        let query = SearchQuery {
            text: q.clone(),
            lang: lang.map(String::from),
            limit: 10,
            without_snippets: !snippets,
            ..SearchQuery::default()
        };
        let t = Instant::now();
        let hits = kb.search(&query)?;
        samples.push(t.elapsed());
        std::hint::black_box(hits);
    }
    Ok(summarize(&mut samples))
}

pub fn run(articles: usize, queries: usize) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(42);
    let dir = tempfile_dir()?;
    println!("generating {articles} articles (half Chinese, half English)…");
    let docs = generate(articles, &mut rng);
    let (kb, _) = Kb::open(&dir)?;
    let bar = super::progress(articles as u64, "indexing");
    let started = Instant::now();
    for chunk in docs.chunks(10_000) {
        kb.add_bulk(chunk.iter().cloned())?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let took = started.elapsed();
    println!(
        "indexed {} articles in {:.1} s: {:.0} articles/s (10 commits of 10k)",
        kb.len(),
        took.as_secs_f64(),
        articles as f64 / took.as_secs_f64()
    );
    // As a rebuild leaves the index (`Kb::replace_all`): one segment.
    let started = Instant::now();
    kb.compact()?;
    println!(
        "merged into one segment in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(docs);
    let (en, zh) = (words(EN), words(ZH));
    // Queries use the real service words (uniformly: common and rare ones alike).
    for (lang, vocab) in [("en", &en), ("zh", &zh)] {
        for n_terms in 1..=3 {
            let qs = random_queries(&mut rng, vocab, n_terms, queries);
            // Warm-up: the first searches load term dictionaries from the page cache.
            measure(&kb, &qs[..qs.len().min(200)], None, true)?;
            let bare = measure(&kb, &qs, None, false)?;
            let filtered = measure(&kb, &qs, Some(lang), false)?;
            let full = measure(&kb, &qs, None, true)?;
            println!("{lang} {n_terms} term(s), top 10             {bare}");
            println!("{lang} {n_terms} term(s), top 10, lang={lang}     {filtered}");
            println!("{lang} {n_terms} term(s), top 10 + snippets  {full}");
        }
    }
    let typo: Vec<String> = (0..queries)
        .map(|_| {
            let w = en[rng.random_range(0..en.len())];
            // Swap two letters in the middle: the fuzzy path runs when the word is unknown.
            let mut c: Vec<char> = w.chars().collect();
            if c.len() >= 5 {
                c.swap(2, 3);
            }
            c.into_iter().collect()
        })
        .collect();
    println!(
        "en 1 typo'd word, top 10        {}",
        measure(&kb, &typo, None, false)?
    );
    // Admins' synonyms: each real service word grouped with a neighbour, so that every query
    // word has a group (the most a query can expand: each word searches two).
    let groups: Vec<Vec<String>> = [&en, &zh]
        .into_iter()
        .flat_map(|v| {
            v.chunks(2)
                .map(|g| g.iter().map(|w| w.to_string()).collect())
        })
        .collect();
    kb.set_synonyms(&groups);
    for (lang, vocab) in [("en", &en), ("zh", &zh)] {
        for n_terms in 1..=3 {
            let qs = random_queries(&mut rng, vocab, n_terms, queries);
            println!(
                "{lang} {n_terms} term(s), top 10, every word with a synonym {}",
                measure(&kb, &qs, None, false)?
            );
        }
    }
    kb.set_synonyms(&[]);
    // Chinese homophone typos (the pinyin path): a service word with one character swapped
    // for one that sounds alike, in a short question.
    let homophones: Vec<String> = (0..queries)
        .map(|i| {
            let (typo, rest) = ZH_TYPOS[i % ZH_TYPOS.len()];
            format!("{typo}{}", zh[rng.random_range(0..zh.len())].repeat(rest))
        })
        .collect();
    println!(
        "zh homophone typo + 0-1 word, top 10 {}",
        measure(&kb, &homophones, None, false)?
    );
    drop(kb);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("hotline-bench-kb-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `hotline bench kb-relevance`: prints the figures of the relevance set per language and per
/// kind of question, and with `misses` the questions not answered in the top 3.
pub fn relevance(
    kb_dir: &Path,
    set: &Path,
    misses: bool,
    without_questions: bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let report = crate::knowledge::relevance::evaluate_files(kb_dir, set, without_questions)?;
    let without = if without_questions {
        ", articles without their similar questions"
    } else {
        ""
    };
    println!("knowledge-base relevance ({}{without})", set.display());
    for (lang, f) in &report.by_lang {
        println!("  {lang:<3}            {f}");
    }
    for ((lang, kind), f) in &report.by_kind {
        println!("  {lang:<3} {kind:<11} {f}");
    }
    if misses {
        for m in &report.misses {
            let rank = m.rank.map_or("-".to_string(), |r| r.to_string());
            println!(
                "  miss {} [{}] {:?}: want {}, rank {rank}, got {:?}",
                m.case.lang,
                m.case.kind,
                m.case.question,
                m.case.expected.join("|"),
                m.found
            );
        }
    }
    println!("  ({} ms)", started.elapsed().as_millis());
    Ok(())
}
