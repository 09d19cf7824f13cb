//! The text analysis shared by indexing and querying: folding (full-width → half-width,
//! traditional → simplified, lower case), jieba search-mode segmentation, English stemming.
//! Knows nothing of the index schema or the database.

use jieba_rs::Jieba;
use std::collections::HashMap;
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
    LazyLock::force(&TRADITIONAL);
}

/// Traditional characters of everyday service vocabulary and their simplified forms. Not a
/// full converter (no crate on crates.io builds offline with its data): it covers the
/// characters of account, payment, delivery, repair and complaint talk, which is what
/// customers writing in traditional Chinese type here. Both forms fold to simplified at index
/// and at query time, so either finds either.
const TRADITIONAL_PAIRS: &str = "\
帳账號号碼码訂订單单發发貨货運运費费維维務务訴诉換换購购買买賣卖聯联繫系\
機机開开關关電电話话網网絡络線线藍蓝資资訊讯設设備备裝装際际驗验證证\
錢钱銀银卡卡結结續续額额價价傳传輸输說说請请問问題题麼么時时間间週周歲岁\
這这個个們们為为無无沒没還还會会來来過过對对從从後后讓让給给幾几點点種种\
戶户動动態态碼码郵邮遞递處处離离達达區区國国際际營营業业節节慶庆農农曆历\
寶宝貴贵賬账戶户員员紅红禮礼優优惠惠劃划匯汇積积歷历輕轻重重擊击黨党\
壞坏損损瑕瑕疵疵響响聲声燈灯螢萤幕幕屏屏顯显示示彈弹窗窗充充鎖锁倉仓庫库\
運运輸输車车轉转複复雜杂簡简體体齊齐權权隱隐私私條条規规則则據据報报\
實实際际異异常常準准確确認认錄录標标記记讀读寫写刪删除除註注銷销舊旧\
號号簽签協协議议險险賠赔償偿據据辦办務务執执華华碼码圖图訊讯聽听講讲\
語语鍵键盤盘亂乱樣样專专門门職职現现與与門门熱热線线導导則则選选項项\
鐘钟裡里嗎吗遲迟錯错誤误遺遗掛挂綁绑廣广東东風风補补貼贴負负責责氣气經经總总監监級级紀纪該该啟启斷断連连頻频鏈链寬宽帶带燒烧壽寿質质產产稅税護护圓圆鬧闹壓压蘋苹";

static TRADITIONAL: LazyLock<HashMap<char, char>> = LazyLock::new(|| {
    let chars: Vec<char> = TRADITIONAL_PAIRS
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    chars
        .chunks_exact(2)
        .filter(|p| p[0] != p[1])
        .map(|p| (p[0], p[1]))
        .collect()
});

/// Folds one character: full-width ASCII and the ideographic space to half-width, traditional
/// to simplified, upper to lower case. One character in, one out, so offsets map back.
pub fn fold_char(c: char) -> char {
    let c = match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    if let Some(s) = TRADITIONAL.get(&c) {
        return *s;
    }
    if c.is_uppercase() {
        let mut lower = c.to_lowercase();
        if let (Some(l), None) = (lower.next(), lower.next()) {
            return l;
        }
    }
    c
}

/// The folded form of a text (what the index sees).
pub fn fold(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

fn is_cjk(c: char) -> bool {
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
    for (i, c) in text.char_indices() {
        orig_offsets.push(i);
        folded.push(fold_char(c));
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
}
