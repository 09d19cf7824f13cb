//! The text analysis shared by indexing and querying: folding (full-width → half-width,
//! traditional → simplified, lower case), jieba search-mode segmentation, English stemming.
//! Knows nothing of the index schema or the database.

use jieba_rs::Jieba;
use std::sync::LazyLock;
use tantivy::tokenizer::{
    Language, RawTokenizer, Stemmer, StopWordFilter, TextAnalyzer, Token, TokenStream,
};

/// The name the index registers the analyzer under.
pub const ANALYZER: &str = "hotline_zh_en";

/// Words of the service trade jieba's general dictionary splits badly ("开不了机" would be
/// 开不了/机, "七天无理由" 七天/无理/由); with them whole, search mode still emits their parts.
const SERVICE_WORDS: &[&str] = &[
    "七天无理由",
    "无理由退货",
    "开不了机",
    "开不开机",
    "连不上",
    "收不到",
    "验证码",
    "运费险",
    "快递员",
    "退款",
    "换货",
    "退货",
    "发票",
    "保修",
    "售后",
    "投诉",
    "扣款",
    "扣费",
    "重复扣款",
    "账号",
    "改绑",
    "蓝牙",
    "配网",
    "回拨",
    "国庆",
    "春节",
    "退订",
    "注销",
];

/// jieba's dictionary without its rarest words (frequency below 10): 105k of 349k entries.
/// The full one costs ~34 MB of memory, this one a third of that; rare words still segment
/// through jieba's HMM. Source: jieba-rs 0.11 `src/data/dict.txt` (MIT), filtered with
/// `awk '$2>=10'`.
const DICTIONARY: &str = include_str!("jieba-dict.txt");

static JIEBA: LazyLock<Jieba> = LazyLock::new(|| {
    let mut jieba =
        Jieba::with_dict(&mut DICTIONARY.as_bytes()).expect("the embedded dictionary parses");
    for w in SERVICE_WORDS {
        jieba.add_word(w, Some(20_000), None);
    }
    jieba
});

/// Loads the dictionary now (about 0.1 s in release) instead of on the first search.
pub fn warm_up() {
    LazyLock::force(&JIEBA);
    LazyLock::force(&OPENCC);
}

/// OpenCC's traditional → simplified conversion (`t2s`: its character and phrase
/// dictionaries, embedded in the binary), the complete and maintained data instead of a
/// hand-made table. Both forms fold to simplified at index and at query time, so either finds
/// either.
static OPENCC: LazyLock<ferrous_opencc::OpenCC> = LazyLock::new(|| {
    ferrous_opencc::OpenCC::from_config(ferrous_opencc::config::BuiltinConfig::T2s)
        .expect("the embedded OpenCC t2s configuration loads")
});

/// Full-width ASCII and the ideographic space to half-width, upper to lower case. One
/// character in, one out.
fn fold_width_and_case(c: char) -> char {
    let c = match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    if c.is_uppercase() {
        let mut lower = c.to_lowercase();
        if let (Some(l), None) = (lower.next(), lower.next()) {
            return l;
        }
    }
    c
}

/// The simplified form of one ideograph (itself when OpenCC maps it to more or less than one
/// character).
fn simplified_char(c: char) -> char {
    let mut buf = [0u8; 4];
    let out = OPENCC.convert(c.encode_utf8(&mut buf));
    let mut chars = out.chars();
    match (chars.next(), chars.next()) {
        (Some(s), None) => s,
        _ => c,
    }
}

/// Simplified characters written for one another in service talk, folded to the standard form
/// (OpenCC turns 帳 into 帐, while customers and articles mostly write 账号, 账户).
fn standard_variant(c: char) -> char {
    match c {
        '帐' => '账',
        _ => c,
    }
}

/// Folds one character: full-width to half-width, traditional to simplified, upper to lower
/// case. Without the context of a phrase: `fold_chars` is the one to use on text.
pub fn fold_char(c: char) -> char {
    let c = fold_width_and_case(c);
    if is_cjk(c) {
        standard_variant(simplified_char(c))
    } else {
        c
    }
}

/// The folded characters of `text`, exactly one per character of it (so offsets map back):
/// full-width and case folded, and the text converted by OpenCC with its phrases. When a
/// phrase would change the number of characters, each ideograph is converted on its own.
pub fn fold_chars(text: &str) -> Vec<char> {
    let pre: String = text.chars().map(fold_width_and_case).collect();
    if !has_cjk(&pre) {
        return pre.chars().collect();
    }
    let converted: Vec<char> = OPENCC.convert(&pre).chars().map(standard_variant).collect();
    let original: Vec<char> = pre.chars().collect();
    if converted.len() == original.len() {
        return converted;
    }
    original.into_iter().map(fold_char).collect()
}

/// The folded form of a text (what the index sees).
pub fn fold(text: &str) -> String {
    fold_chars(text).into_iter().collect()
}

/// Is `c` a CJK ideograph?
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// A token worth indexing: it has a letter, digit or ideograph (jieba also emits spaces and
/// punctuation as tokens).
fn is_word(w: &str) -> bool {
    w.chars().any(|c| c.is_alphanumeric())
}

/// Segments `text` into tokens with offsets into the ORIGINAL text (for highlighting) and
/// positions that count words: the parts search mode adds ("密码" inside "忘记密码") share
/// the position of their word, so phrase queries stay exact.
pub fn segment(text: &str, search_mode: bool) -> Vec<Token> {
    let mut orig_offsets = Vec::with_capacity(text.len() + 1);
    let mut folded = String::with_capacity(text.len());
    for ((i, _), f) in text.char_indices().zip(fold_chars(text)) {
        orig_offsets.push(i);
        folded.push(f);
    }
    orig_offsets.push(text.len());
    let words = if search_mode {
        JIEBA.cut_for_search(&folded, true)
    } else {
        JIEBA.cut(&folded, true)
    };
    // Search mode emits a word's parts right before the word; a token inside the range of
    // the word that follows it is such a part.
    let mut is_part = vec![false; words.len()];
    let mut parent: Option<(usize, usize)> = None;
    for (i, w) in words.iter().enumerate().rev() {
        match parent {
            Some((s, e)) if s <= w.start && w.end <= e && w.end - w.start < e - s => {
                is_part[i] = true
            }
            _ => parent = Some((w.start, w.end)),
        }
    }
    // Assign positions forwards: a word takes the next position, its parts take the word's.
    let mut next_pos = 0usize;
    let mut positions = vec![0usize; words.len()];
    for i in 0..words.len() {
        if !is_part[i] && is_word(words[i].word) {
            positions[i] = next_pos;
            next_pos += 1;
        }
    }
    for i in (0..words.len()).rev() {
        if is_part[i] {
            positions[i] = (i + 1..words.len())
                .find(|&j| !is_part[j])
                .map(|j| positions[j])
                .unwrap_or(0);
        }
    }
    let mut out = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        if !is_word(w.word) {
            continue;
        }
        out.push(Token {
            offset_from: orig_offsets[w.start],
            offset_to: orig_offsets[w.end],
            position: positions[i],
            text: w.word.to_string(),
            position_length: 1,
        });
    }
    // Text order (a word's parts came before the word): the snippet generator relies on it,
    // and positions stay non-decreasing since parts share their word's position.
    out.sort_by_key(|t| (t.offset_from, std::cmp::Reverse(t.offset_to)));
    out
}

/// jieba (search mode) over folded text, as a tantivy tokenizer.
#[derive(Clone)]
pub struct ZhEnTokenizer {
    search_mode: bool,
}

pub struct VecTokenStream {
    tokens: Vec<Token>,
    index: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        self.index += 1;
        self.index <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.index - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.index - 1]
    }
}

impl tantivy::tokenizer::Tokenizer for ZhEnTokenizer {
    type TokenStream<'a> = VecTokenStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream {
            tokens: segment(text, self.search_mode),
            index: 0,
        }
    }
}

/// Function words that match everything and rank nothing, in both languages. Kept short:
/// "not" and "no" carry meaning in service questions ("won't turn on", "no signal").
const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "but",
    "by",
    "do",
    "does",
    "for",
    "from",
    "has",
    "have",
    "how",
    "i",
    "i'm",
    "if",
    "in",
    "is",
    "it",
    "its",
    "me",
    "my",
    "of",
    "on",
    "or",
    "our",
    "so",
    "that",
    "the",
    "their",
    "then",
    "there",
    "these",
    "this",
    "to",
    "was",
    "we",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "you",
    "your",
    "can",
    "could",
    "would",
    "should",
    "please",
    "hi",
    "hello",
    "的",
    "了",
    "吗",
    "呢",
    "啊",
    "吧",
    "呀",
    "我",
    "我的",
    "你",
    "你们",
    "您",
    "是",
    "在",
    "就",
    "都",
    "也",
    "和",
    "请问",
    "一下",
    "怎么",
    "怎么办",
    "什么",
    "为什么",
    "还",
    "要",
    "能",
    "可以",
    "个",
    "这个",
    "那个",
];

/// The analyzer for article fields and queries: `search_mode` false gives whole words only
/// (used for phrase queries, whose words must be consecutive).
pub fn analyzer(search_mode: bool) -> TextAnalyzer {
    // Built once: the stop-word set is shared, so a clone costs a few allocations.
    static SEARCH: LazyLock<TextAnalyzer> = LazyLock::new(|| build_analyzer(true));
    static WORDS: LazyLock<TextAnalyzer> = LazyLock::new(|| build_analyzer(false));
    if search_mode {
        SEARCH.clone()
    } else {
        WORDS.clone()
    }
}

fn build_analyzer(search_mode: bool) -> TextAnalyzer {
    TextAnalyzer::builder(ZhEnTokenizer { search_mode })
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|s| s.to_string()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The terms a text analyzes to, with their positions (for queries and tests).
pub fn terms(text: &str, search_mode: bool) -> Vec<(usize, String)> {
    let mut a = analyzer(search_mode);
    let mut stream = a.token_stream(text);
    let mut out = Vec::new();
    while let Some(t) = stream.next() {
        out.push((t.position, t.text.clone()));
    }
    out
}

/// Stems one folded Latin word as the analyzer indexes it ("refunds" → "refund"). Make one
/// per text: each holds its own copy of the stemmer.
pub fn stemmer() -> impl FnMut(&str) -> String {
    static STEMMER: LazyLock<TextAnalyzer> = LazyLock::new(|| {
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(Stemmer::new(Language::English))
            .build()
    });
    let mut a = STEMMER.clone();
    move |word| {
        let mut stream = a.token_stream(word);
        match stream.next() {
            Some(t) => t.text.clone(),
            None => word.to_string(),
        }
    }
}

/// True when a term is a Latin word (typo tolerance applies to those only).
pub fn is_latin_word(term: &str) -> bool {
    term.chars().all(|c| c.is_ascii_alphabetic())
}

/// True when the text contains CJK ideographs (used to guess a query's language).
pub fn has_cjk(text: &str) -> bool {
    text.chars().any(is_cjk)
}

/// At most this many pinyin spellings of one word (its characters' readings multiplied).
const MAX_SPELLINGS: usize = 8;

/// The toneless pinyin spellings of a word of ideographs (`安装` → `anzhuang`), one per
/// combination of its characters' readings (`还款` → `haikuan`, `huankuan`), at most
/// `MAX_SPELLINGS`; none when a character is not an ideograph with a known reading. Homophone
/// typos (按装 for 安装) share a spelling with the word meant; tones are left out on purpose,
/// since such typos often change the tone. From the `pinyin` crate's data (pinyin-data).
pub fn pinyin_spellings(word: &str) -> Vec<String> {
    use pinyin::ToPinyinMulti;
    let mut out = vec![String::new()];
    for c in word.chars() {
        let Some(multi) = c.to_pinyin_multi() else {
            return Vec::new();
        };
        let mut readings: Vec<&str> = multi.into_iter().map(|p| p.plain()).collect();
        readings.sort_unstable();
        readings.dedup();
        let mut next = Vec::with_capacity(out.len() * readings.len());
        for prefix in &out {
            for r in &readings {
                if next.len() < MAX_SPELLINGS {
                    next.push(format!("{prefix}{r}"));
                }
            }
        }
        out = next;
    }
    out
}

/// The parts of a query that may be homophone typos: each word of two to four ideographs, and
/// each run of two or three single ideographs in a row (jieba splits a word it does not know,
/// such as 按装, into characters), that jieba's dictionary does not know: a real word (保固,
/// 还在) is what the customer meant. Folded text, as the index sees it.
pub fn typo_candidates(text: &str) -> Vec<String> {
    let folded = fold(text);
    let words = JIEBA.cut(&folded, true);
    let ideographs = |w: &str| w.chars().all(is_cjk);
    let mut out = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let flush = |run: &mut Vec<&str>, out: &mut Vec<String>| {
        for len in 2..=3 {
            for win in run.windows(len) {
                out.push(win.concat());
            }
        }
        run.clear();
    };
    for w in &words {
        let n = w.word.chars().count();
        if n == 1 && ideographs(w.word) {
            run.push(w.word);
            continue;
        }
        flush(&mut run, &mut out);
        if (2..=4).contains(&n) && ideographs(w.word) {
            out.push(w.word.to_string());
        }
    }
    flush(&mut run, &mut out);
    out.retain(|w| !JIEBA.has_word(w));
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        terms(text, true).into_iter().map(|(_, t)| t).collect()
    }

    #[test]
    fn search_mode_emits_words_and_their_parts() {
        let w = words("忘记密码怎么办");
        assert!(w.contains(&"密码".to_string()), "{w:?}");
        assert!(w.contains(&"忘记".to_string()), "{w:?}");
        let w = words("中华人民共和国");
        for part in ["中华", "人民", "共和国", "中华人民共和国"] {
            assert!(w.contains(&part.to_string()), "{part} in {w:?}");
        }
    }

    #[test]
    fn parts_share_their_words_position() {
        let t = terms("中华人民共和国 成立", true);
        let whole = t.iter().find(|(_, w)| w == "中华人民共和国").unwrap().0;
        let part = t.iter().find(|(_, w)| w == "人民").unwrap().0;
        let next = t.iter().find(|(_, w)| w == "成立").unwrap().0;
        assert_eq!(whole, part);
        assert_eq!(next, whole + 1);
    }

    #[test]
    fn english_is_stemmed_lowercased_and_stop_words_dropped() {
        assert_eq!(words("Refunds REFUNDED"), vec!["refund", "refund"]);
        assert_eq!(
            words("How do I reset my password?"),
            vec!["reset", "password"]
        );
    }

    #[test]
    fn mixed_text_keeps_both_scripts_and_drops_punctuation() {
        let w = words("Wi-Fi连不上，路由器 reboot 了！");
        assert!(
            w.contains(&"wi".to_string()) || w.contains(&"wi-fi".to_string()),
            "{w:?}"
        );
        assert!(w.contains(&"路由器".to_string()), "{w:?}");
        assert!(w.contains(&"reboot".to_string()), "{w:?}");
        assert!(
            w.iter().all(|t| t.chars().any(char::is_alphanumeric)),
            "{w:?}"
        );
    }

    #[test]
    fn traditional_folds_to_simplified() {
        assert_eq!(fold("忘記密碼"), "忘记密码");
        assert_eq!(words("帳號"), words("账号"));
        assert!(words("退款訂單").contains(&"订单".to_string()));
        // Characters the old hand-made table lacked (OpenCC's data has them all).
        for (t, simple) in [
            ("卸載", "卸载"),
            ("內核", "内核"),
            ("架構", "架构"),
            ("軟體進階", "软体进阶"),
        ] {
            assert_eq!(fold(t), simple);
        }
        assert_eq!(words("卸載"), words("卸载"));
    }

    #[test]
    fn full_width_folds_to_half_width() {
        assert_eq!(fold("ＰＡＳＳＷＯＲＤ　１２３"), "password 123");
        assert_eq!(words("ｐａｓｓｗｏｒｄ"), vec!["password"]);
    }

    #[test]
    fn tokens_come_in_text_order_with_non_decreasing_positions() {
        let toks = segment("中华人民共和国成立了，忘记密码怎么办", true);
        for w in toks.windows(2) {
            assert!(w[0].offset_from <= w[1].offset_from, "{toks:?}");
            assert!(w[0].position <= w[1].position, "{toks:?}");
        }
    }

    #[test]
    fn offsets_point_into_the_original_text() {
        let text = "ＡＢＣ 帳號";
        let toks = segment(text, true);
        let last = toks.last().unwrap();
        assert_eq!(&text[last.offset_from..last.offset_to], "帳號");
        assert_eq!(&text[toks[0].offset_from..toks[0].offset_to], "ＡＢＣ");
    }

    #[test]
    fn homophones_share_a_pinyin_spelling() {
        assert_eq!(pinyin_spellings("安装"), vec!["anzhuang"]);
        assert!(pinyin_spellings("按装").contains(&"anzhuang".to_string()));
        assert!(pinyin_spellings("还款").contains(&"huankuan".to_string()));
        assert!(pinyin_spellings("还款").contains(&"haikuan".to_string()));
        assert!(pinyin_spellings("app").is_empty());
    }

    #[test]
    fn typo_candidates_are_unknown_words_and_runs_of_single_ideographs() {
        let c = typo_candidates("手机按装不了app");
        assert!(c.contains(&"按装".to_string()), "{c:?}");
        assert!(!c.iter().any(|w| w.contains("app")), "{c:?}");
    }
}
